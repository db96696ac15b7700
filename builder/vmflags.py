"""Which VM flags a build may set: the emulator-flag allowlist, and vm.args read against it.

Whatever reaches the VM as a flag is decided at build time.  The launcher
refuses every environment variable that erlexec or the VM reads as flags
(``ERL_AFLAGS`` and friends), so the only ways left are ``launcher.vm_flags``
in build-image.yaml (compiled into the launcher) and the release's own
``vm.args``.  Both are held to the same allowlist: emulator tuning (``+``
flags) only.  Every ``-`` flag is refused, because among them are the ones
that undo the launcher's promises: ``-proto_dist`` (plain-TCP distribution),
``-setcookie`` (a cookie on the command line), ``-eval``/``-s``/``-run``
(code), ``-env``/``-pa``/``-boot`` (code paths), ``-kernel inet_dist_*`` (the
pinned port).  Application settings belong in ``config/*.exs``.

The allowlist doubles as documentation: ``build-image vm-flags`` is not a
command, but README's "VM flags" table is written from :data:`ALLOWED`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"\d+"
_BOOL = r"true|false"


@dataclass(frozen=True)
class EmulatorFlag:
    """One allowed ``+`` flag: the value it takes (a regex, or None for none) and what it tunes."""

    name: str
    value: str | None
    meaning: str

    def accepts(self, value: str) -> bool:
        return self.value is not None and re.fullmatch(self.value, value) is not None


def _flags(*rows: tuple[str, str | None, str]) -> dict[str, EmulatorFlag]:
    return {name: EmulatorFlag(name, value, meaning) for name, value, meaning in rows}


_SCHEDULERS = r"\d+(:\d+)?"
_BUSY_WAIT = r"none|very_short|short|medium|long|very_long"
_WAKEUP = r"very_low|low|medium|high|very_high|legacy"
_BINDING = r"u|ns|ts|ps|s|nnts|nnps|tnnps|db"
# Memory allocators: B binary, D std, E ETS, F fix, H heap, I literal, L
# long-lived, R driver, S short-lived, T temporary, u all of them.
_ALLOCATORS = "BDEFHILRSTu"
_ALLOCATOR_PARAMETERS = {
    "as": r"bf|aobf|aoff|aoffcbf|aoffcaobf|ageffcaoff|ageffcbf|ageffcaobf|gf|af",
    "acul": r"de|\d+", "acnl": _NUMBER, "acfml": _NUMBER, "atags": _BOOL, "e": _BOOL,
    "lmbcs": _NUMBER, "smbcs": _NUMBER, "mmbcs": _NUMBER, "mmmbc": _NUMBER, "mmsbc": _NUMBER,
    "sbct": _NUMBER, "ramv": _BOOL, "rsbcst": _NUMBER, "rsbcmt": _NUMBER, "rmbcmt": _NUMBER,
}

#: Every flag a build may pass to the VM, with the values it takes.
ALLOWED: dict[str, EmulatorFlag] = _flags(
    ("+S", _SCHEDULERS, "schedulers (total:online)"),
    ("+SP", _SCHEDULERS, "schedulers as a percentage of the CPUs (total:online)"),
    ("+SDcpu", _SCHEDULERS, "dirty CPU schedulers (total:online)"),
    ("+SDPcpu", _SCHEDULERS, "dirty CPU schedulers as a percentage"),
    ("+SDio", _NUMBER, "dirty I/O schedulers"),
    ("+sbwt", _BUSY_WAIT, "scheduler busy-wait threshold"),
    ("+sbwtdcpu", _BUSY_WAIT, "dirty CPU scheduler busy-wait threshold"),
    ("+sbwtdio", _BUSY_WAIT, "dirty I/O scheduler busy-wait threshold"),
    ("+swt", _WAKEUP, "scheduler wake-up threshold"),
    ("+swtdcpu", _WAKEUP, "dirty CPU scheduler wake-up threshold"),
    ("+swtdio", _WAKEUP, "dirty I/O scheduler wake-up threshold"),
    ("+sbt", _BINDING, "scheduler binding type"),
    ("+stbt", _BINDING, "scheduler binding type, tried"),
    ("+sub", _BOOL, "scheduler utilization balancing"),
    ("+scl", _BOOL, "scheduler compaction of load"),
    ("+spp", _BOOL, "port parallelism by default"),
    ("+P", _NUMBER, "maximum number of processes"),
    ("+Q", _NUMBER, "maximum number of ports"),
    ("+t", _NUMBER, "maximum number of atoms"),
    ("+e", _NUMBER, "maximum number of ETS tables (ignored by recent OTP)"),
    ("+A", _NUMBER, "async thread pool size"),
    ("+IOt", _NUMBER, "I/O poll threads"),
    ("+IOp", _NUMBER, "I/O poll sets"),
    ("+hms", _NUMBER, "default minimum heap size (words)"),
    ("+hmbs", _NUMBER, "default minimum binary virtual heap size (words)"),
    ("+hmqd", r"off_heap|on_heap", "default message queue data"),
    ("+hpds", _NUMBER, "initial process dictionary size"),
    ("+zdbbl", _NUMBER, "distribution buffer busy limit (KiB)"),
    ("+zdntgc", _NUMBER, "delayed node table garbage collection (seconds)"),
    ("+C", r"no_time_warp|single_time_warp|multi_time_warp", "time warp mode"),
    ("+c", _BOOL, "time correction"),
    ("+pc", r"unicode|latin1", "printable character range"),
    ("+fnu", None, "file names are UTF-8 (warn on others)"),
    ("+fnui", None, "file names are UTF-8 (ignore others)"),
    ("+fnue", None, "file names are UTF-8 (error on others)"),
    ("+fnl", None, "file names are Latin-1"),
    ("+fna", None, "file name encoding from the locale"),
    ("+MMscs", _NUMBER, "super carrier size (MiB)"),
    *((f"+M{a}{p}", v, f"memory allocator {a}: {p}")
      for a in _ALLOCATORS for p, v in _ALLOCATOR_PARAMETERS.items()),
)

#: Flags refused with a reason of their own: what each would undo.
DANGEROUS: dict[str, str] = {
    "-proto_dist": "chooses the distribution protocol: inet_tcp would bypass mutual TLS",
    "-setcookie": "puts the cookie on the command line and bypasses the launcher's cookie check",
    "-cookie": "sets the cookie, bypassing the launcher's cookie check",
    "-eval": "evaluates code at boot",
    "-s": "calls a function at boot",
    "-run": "calls a function at boot",
    "-remsh": "starts a remote shell",
    "-env": "sets environment variables such as ERL_LIBS (code paths)",
    "-args_file": "reads more flags from another file",
    "-extra": "passes arguments to the Elixir CLI, which can evaluate code (--eval)",
    "-kernel": "sets kernel parameters such as inet_dist_listen_min or epmd_module",
    "-epmd_module": "replaces how nodes are found (the EPMD-less resolver)",
    "-erl_epmd_port": "moves the distribution port",
    "-start_epmd": "starts epmd through /bin/sh",
    "-name": "sets the node name, which the launcher derives",
    "-sname": "sets the node name, which the launcher derives",
    "-heart": "starts heart, which runs HEART_COMMAND through /bin/sh",
    "-mode": "sets the code loading mode, which RELEASE_MODE decides",
    "-pa": "adds a code path",
    "-pz": "adds a code path",
    "-boot": "replaces the boot script",
    "-boot_var": "moves where the boot script finds code",
    "-config": "replaces the release's configuration",
    "-connect_all": "changes how the node joins the cluster",
    "-hidden": "changes how the node joins the cluster",
    "-dist_listen": "changes how the node listens for distribution",
    "-no_epmd": "changes how the node finds others",
    "-code_path_choice": "changes where modules are loaded from",
    "-shell": "starts an interactive shell",
}
_DANGEROUS_PREFIXES = {
    "-ssl_dist_": "sets TLS distribution options, which the image fixes",
    # The JIT's own switches: the default JIT maps code through two views
    # (one writable, one executable), which is what lets the systemd unit set
    # MemoryDenyWriteExecute=yes.  +JMsingle true maps one writable and
    # executable view, +JPperf writes perf map/dump files and keeps frame
    # pointers for profilers: both undo that, so neither may reach the VM.
    "+JMsingle": "maps JIT code writable and executable at once, "
                 "which MemoryDenyWriteExecute= (build-image systemd) forbids",
    "+JPperf": "writes perf map files of the JIT's code (a profiling aid), "
               "which the read-only image and MemoryDenyWriteExecute= forbid",
    "+J": "a JIT switch: the JIT's settings are fixed so the image keeps W^X",
}


@dataclass(frozen=True)
class FlagProblem:
    """One word that may not reach the VM, where it was found and why."""

    line: int  # 0 for launcher.vm_flags, which has no lines
    word: str
    reason: str


def check_words(words: list[tuple[int, str]]) -> tuple[list[str], list[FlagProblem]]:
    """Walk (line, word) pairs against :data:`ALLOWED`; return the accepted words and the problems.

    A flag's value is the next word.  After a refused ``-`` flag its own
    arguments (words not starting with ``+`` or ``-``) are skipped, so one
    problem names one flag.
    """
    accepted: list[str] = []
    problems: list[FlagProblem] = []
    index = 0
    while index < len(words):
        line, word = words[index]
        index += 1
        flag = ALLOWED.get(word)
        if flag is None:
            problems.append(FlagProblem(line, _shown(word, words, index), _reason(word)))
            if word == "-extra":
                break  # everything after it is the plain arguments it passes on
            while word.startswith(("-", "+")) and index < len(words) and not words[index][1].startswith(("+", "-")):
                index += 1
            continue
        if flag.value is None:
            accepted.append(word)
            continue
        value = words[index][1] if index < len(words) else ""
        if value.startswith(("+", "-")):
            value = ""  # the next flag, not this one's value
        else:
            index += 1
        if flag.accepts(value):
            accepted += [word, value]
        else:
            problems.append(FlagProblem(line, f"{word} {value}".strip(),
                                        f"{word} takes a value matching {flag.value} ({flag.meaning})"))
    return accepted, problems


def vm_args_words(text: str) -> list[tuple[int, str]]:
    """Split vm.args the way erlexec does: whitespace-separated words, ``#`` to
    the end of the line is a comment, a backslash takes the next character as is."""
    words: list[tuple[int, str]] = []
    word, line, start, comment, escaped = "", 1, 1, False, False
    for char in text:
        if comment:
            comment = char != "\n"
        elif escaped:
            word, escaped = word + char, False
        elif char == "#" or char.isspace():
            if word:
                words.append((start, word))
            word, comment = "", char == "#"
        else:
            start = start if word else line
            word, escaped = (word, True) if char == "\\" else (word + char, False)
        line += char == "\n"
    if word:
        words.append((start, word))
    return words


def vm_args_problems(text: str) -> list[FlagProblem]:
    """Everything in a release's vm.args that the allowlist refuses."""
    return check_words(vm_args_words(text))[1]


def _shown(word: str, words: list[tuple[int, str]], index: int) -> str:
    """A ``-kernel`` problem names its parameter too (``-kernel inet_dist_listen_min``)."""
    if word in ("-kernel", "-env") and index < len(words):
        return f"{word} {words[index][1]}"
    return word


def _reason(word: str) -> str:
    if word in DANGEROUS:
        return DANGEROUS[word]
    for prefix, reason in _DANGEROUS_PREFIXES.items():
        if word.startswith(prefix):
            return reason
    if word.startswith("-"):
        return "a - flag: only + emulator flags from the allowlist may reach the VM " \
               "(application settings belong in config/*.exs)"
    if word.startswith("+"):
        return "not an allowed emulator flag (see the VM flags table in the README)"
    return "not a flag: a value with no flag before it"
