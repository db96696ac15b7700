"""The one place that runs external programs.

Every subprocess goes through :func:`run` so failures read the same way
everywhere: the command, its exit status and the tail of its stderr.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from builder.errors import CommandFailed

_STDERR_TAIL = 40


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input_bytes: bytes | None = None,
    capture: bool = True,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` (never through a shell) and return the finished process.

    With ``check`` a non-zero exit raises :class:`CommandFailed` naming the
    command and quoting the last lines of its stderr, which is what a user
    needs to see to fix it.
    """
    words = [str(a) for a in argv]
    try:
        done = subprocess.run(
            words,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input_bytes,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(
            f"{words[0]} is not installed",
            hint=f"install the program that provides {words[0]!r} (see README: Requirements)",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(f"{shlex.join(words)} did not finish within {timeout}s") from exc
    if check and done.returncode != 0:
        raise CommandFailed(
            f"{shlex.join(words)} exited with status {done.returncode}"
            + _stderr_tail(done.stderr)
        )
    return done


def _stderr_tail(stderr: bytes | None) -> str:
    if not stderr:
        return ""
    lines = stderr.decode(errors="replace").rstrip().splitlines()[-_STDERR_TAIL:]
    return "\n" + "\n".join("  " + line for line in lines)
