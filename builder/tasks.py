"""The launcher's task verbs: validation and the generated C header.

A task verb becomes a hard-linked command (``bin/<verb>``) that evaluates one
expression fixed at build time.  The names the stock release script uses for
its own commands are reserved: they would shadow the server or resurrect the
``eval``/``rpc``/``remote`` surface the launcher exists to remove.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import jinja2

from builder.errors import ConfigError
from builder.resources import launcher_dir

_VERB = re.compile(r"[a-z][a-z0-9_]*")
# Each verb is also a file name in bin/ and a word in usage messages.
_VERB_MAX_LEN = 64
RESERVED_VERBS = frozenset(
    {
        "server",
        "start",
        "start_iex",
        "eval",
        "rpc",
        "remote",
        "daemon",
        "daemon_iex",
        "restart",
        "stop",
        "pid",
        "version",
    }
)
_TEMPLATE = "tasks.h.j2"


def validate_tasks(tasks: Mapping[str, str]) -> None:
    """Refuse any verb or expression the launcher could not run safely.

    Raises :class:`ConfigError` naming the first bad verb (in sorted order,
    so the same config always reports the same problem).
    """
    for verb in sorted(tasks, key=str):
        _check_verb(verb)
        _check_expression(verb, tasks[verb])


def render_task_header(tasks: Mapping[str, str], vm_flags: Sequence[str] = ()) -> str:
    """Render the C header the launcher's Makefile takes as ``TASKS_HEADER``.

    ``vm_flags`` are argv words for erlexec (``("+S", "2:2")``), already
    checked against the emulator-flag allowlist by the config; they become
    ``LAUNCHER_VM_FLAGS(WORD)``, C-escaped like the expressions.
    """
    validate_tasks(tasks)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(launcher_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["c_string"] = c_string_body
    template = env.get_template(_TEMPLATE)
    return template.render(tasks=sorted(tasks.items()), vm_flags=list(vm_flags))


def c_string_body(text: str) -> str:
    """The inside of a C string literal holding ``text`` as UTF-8.

    Only printable ASCII passes through; everything else becomes a three-digit
    octal escape, which can never merge with a following digit.  ``?`` is
    escaped because C11 still has trigraphs.
    """
    out: list[str] = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return "".join(out)


_SIMPLE_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "?": "\\?",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
}


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
    if verb in RESERVED_VERBS:
        raise ConfigError(
            f"launcher.tasks: verb {verb!r} is reserved",
            hint="rename it; reserved: " + ", ".join(sorted(RESERVED_VERBS)),
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
