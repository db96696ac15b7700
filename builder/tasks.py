"""The launcher's task verbs: validation and the generated C header.

A task verb becomes a hard-linked command (``bin/<verb>``) that evaluates one
expression fixed at build time.  The names the stock release script uses for
its own commands are reserved: they would shadow the server or resurrect the
``eval``/``rpc``/``remote`` surface the launcher exists to remove.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from builder import contract
from builder.errors import ConfigError
from builder.templates import environment

_VERB = re.compile(r"[a-z][a-z0-9_]*")
# Each verb is also a file name in bin/ and a word in usage messages.
_VERB_MAX_LEN = 64
_TEMPLATE = "tasks.h.j2"


def validate_tasks(tasks: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Refuse any verb or expression the launcher could not run safely.

    Raises :class:`ConfigError` naming the first bad verb (in sorted order,
    so the same config always reports the same problem); returns the tasks
    as (verb, expression) pairs in that order, the form the config keeps.
    """
    for verb in sorted(tasks, key=str):
        _check_verb(verb)
        _check_expression(verb, tasks[verb])
    return tuple(sorted(tasks.items()))


def render_task_header(tasks: Mapping[str, str], vm_flags: Sequence[str] = ()) -> str:
    """Render the C header the launcher's Makefile takes as ``TASKS_HEADER``.

    ``tasks`` and ``vm_flags`` come validated from the config
    (:func:`validate_tasks`, :mod:`builder.vmflags`); here they are only
    C-escaped into the task table and the list of build-time VM flags.
    """
    return environment().get_template(_TEMPLATE).render(tasks=sorted(tasks.items()), vm_flags=list(vm_flags))


def _check_verb(verb: object) -> None:
    if not isinstance(verb, str) or not _VERB.fullmatch(verb):
        raise ConfigError(
            f"launcher.tasks: verb {verb!r} is not a valid command name",
            hint="use lower-case letters, digits and '_', starting with a letter (e.g. migrate)",
        )
    if len(verb) > _VERB_MAX_LEN:
        raise ConfigError(
            f"launcher.tasks: verb {verb!r} is longer than {_VERB_MAX_LEN} characters",
            hint="choose a shorter name; it becomes a file in the image's bin/",
        )
    if verb in contract.RESERVED_VERBS:
        raise ConfigError(
            f"launcher.tasks: verb {verb!r} is reserved",
            hint="rename it; reserved: " + ", ".join(sorted(contract.RESERVED_VERBS)),
        )


def _check_expression(verb: str, expression: object) -> None:
    if not isinstance(expression, str) or not expression.strip():
        raise ConfigError(
            f"launcher.tasks: verb {verb!r} has an empty expression",
            hint="give one Elixir expression, e.g. MyApp.Release.migrate()",
        )
    if "\0" in expression:
        raise ConfigError(
            f"launcher.tasks: the expression of verb {verb!r} contains a NUL character",
            hint="remove the NUL byte; a C string cannot hold it",
        )
