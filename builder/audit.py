"""The BEAM call audit: which modules of the release call what a production node should not.

The build-time form of "only these functions may be called".  Every
``.beam`` of the release is read (never loaded) and each call to a function
on :data:`DENYLIST` is a :class:`Finding` naming the calling module and the
called ``module:function/arity``.

What is read, and why there: the call itself comes from the module's import
table (``ImpT``), which every BEAM keeps, stripped or not.  Where an
argument decides the danger (``open_port``'s ``spawn``/``spawn_executable``,
the path ``load_nif`` loads), the call site is looked up in the module's
debug info (``Dbgi``: Erlang abstract code or Elixir's expanded AST), which
Mix's ``strip_beams`` removes from the release.  So the assembler hands the
audit the release and, for each module, the unstripped copy ``mix compile``
left in the release stage's ``_build`` (the project and its deps); OTP's
own modules keep their debug info in the release.  Each finding says
whether the argument was seen: a literal, computed at run time, or not
seen (no debug info).

Findings are judged, not waived wholesale: OTP's and Elixir's own calls
against a checked-in baseline per OTP pin (``builder/audit_baselines/``, one
``module target`` per line, written from the example release), a few
well-known Hex packages' development-only calls against built-in reasoned
allowances (``audit_baselines/hex-packages.txt``, matched by package too),
the app's against the allowlist in build-image.yaml (``audit.allow``, each
with a written reason).  Anything else fails the build.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from builder.errors import ImageUnreadable
from builder.verify.beam import NotABeam, read_chunks

AUDIT_PATH: Final = "/app/beam-audit.json"
_BASELINES: Final = Path(__file__).resolve().parent / "audit_baselines"
_APP_DIR: Final = re.compile(r"(?:^|/)lib/([^/]+?)(?:-[0-9][^/]*)?/ebin/([^/]+)\.beam$")


@dataclass(frozen=True)
class Denied:
    """A denied call target; ``arities`` None: every arity, ``function`` None: every function.

    ``argument`` is the index of the argument that decides the danger, when
    one does (for open_port, a literal ``fd`` or ``spawn_driver`` is no finding).
    """

    module: str
    function: str | None
    arities: frozenset[int] | None
    why: str
    argument: int | None = None


#: The documented denylist (README: "The BEAM call audit").
DENYLIST: Final = (
    Denied("os", "cmd", frozenset({1, 2}), "runs a shell command"),
    Denied("erlang", "open_port", frozenset({2}), "spawn/spawn_executable start external programs",
           argument=0),
    Denied("Elixir.Port", "open", frozenset({2}), "spawn/spawn_executable start external programs",
           argument=0),
    Denied("Elixir.System", "cmd", frozenset({2, 3}), "starts an external program"),
    Denied("Elixir.System", "shell", frozenset({1, 2}), "runs a shell command"),
    Denied("code", "load_binary", frozenset({3}), "loads code that was not in the release"),
    Denied("code", "load_abs", frozenset({1, 2}), "loads code from an arbitrary path"),
    Denied("erlang", "load_module", frozenset({2}), "loads code that was not in the release"),
    Denied("erlang", "load_nif", frozenset({2}), "loads native code; only the app's priv is expected",
           argument=0),
    Denied("file", "eval", frozenset({1, 2}), "evaluates a file as Erlang code"),
    Denied("file", "path_eval", frozenset({2, 3}), "evaluates a file as Erlang code"),
    Denied("file", "script", frozenset({1, 2}), "evaluates a file as Erlang code"),
    Denied("file", "path_script", frozenset({2, 3}), "evaluates a file as Erlang code"),
    Denied("erl_eval", None, None, "evaluates Erlang expressions"),
    Denied("Elixir.Code", "eval_string", None, "evaluates Elixir code"),
    Denied("Elixir.Code", "eval_quoted", None, "evaluates Elixir code"),
    Denied("Elixir.Code", "eval_quoted_with_env", None, "evaluates Elixir code"),
    Denied("Elixir.Code", "eval_file", None, "evaluates an Elixir file"),
    Denied("Elixir.Code", "require_file", None, "compiles and runs an Elixir file"),
    Denied("Elixir.Code", "compile_string", None, "compiles and loads Elixir code"),
    Denied("Elixir.Code", "compile_quoted", None, "compiles and loads Elixir code"),
    Denied("Elixir.Code", "compile_file", None, "compiles and loads an Elixir file"),
    Denied("net_kernel", "allow", frozenset({1}), "changes which nodes may connect"),
    Denied("erlang", "set_cookie", frozenset({1, 2}), "changes the distribution cookie"),
    Denied("auth", "set_cookie", frozenset({1, 2}), "changes the distribution cookie"),
    Denied("Elixir.Node", "set_cookie", frozenset({1, 2}), "changes the distribution cookie"),
    Denied("heart", None, None, "heart runs HEART_COMMAND through a shell"),
)
#: open_port/Port.open first-argument tags that start no external program.
_HARMLESS_PORTS: Final = frozenset({"fd", "spawn_driver"})


@dataclass(frozen=True)
class Finding:
    """One call to a denied function: who calls what, and what was seen of the argument."""

    app: str
    module: str
    target: str  # module:function/arity
    why: str
    argument: str  # "-" when no argument decides; else what was seen
    verdict: str = "violation"  # "baseline", "allowed: <reason>" or "violation"

    @property
    def key(self) -> str:
        return f"{self.module} {self.target}"


@dataclass(frozen=True)
class Allowance:
    """``audit.allow`` in build-image.yaml: one module's call to one target, with a reason."""

    module: str
    target: str
    reason: str


# -- reading BEAM files ---------------------------------------------------------

@dataclass(frozen=True)
class Beam:
    name: str
    imports: tuple[tuple[str, str, int], ...]
    debug_info: object | None


def read_beam(data: bytes) -> Beam:
    """The module's name, import table and (when present) decoded debug info."""
    try:
        parsed = read_chunks(data)
    except (NotABeam, IndexError, struct.error, OSError, EOFError) as exc:
        raise ImageUnreadable(f"a .beam file this reader cannot parse ({exc})",
                              hint="the release holds a file that is not a compiled module") from exc
    return Beam(parsed.module, tuple(parsed.imports()), _debug_info(parsed.chunks.get(b"Dbgi")))


def _debug_info(chunk: bytes | None) -> object | None:
    """The decoded debug info; None when there is none, it holds no code, or it uses terms
    this reader does not know (the import table still names every call)."""
    if chunk is None:
        return None
    try:
        dbgi = _decode_term(chunk)
    except (ImageUnreadable, zlib.error, struct.error, RecursionError):
        return None
    return None if _without_code(dbgi) else dbgi


def _without_code(dbgi: object) -> bool:
    """erlc without +debug_info still writes Dbgi: ``{debug_info_v1, erl_abstract_code, {none, _}}``."""
    return (isinstance(dbgi, tuple) and len(dbgi) == 3 and isinstance(dbgi[2], tuple)
                            and len(dbgi[2]) == 2 and dbgi[2][0] == "none")


class Atom(str):
    """An Erlang atom (a str, so comparisons read naturally)."""


class Binary(bytes):
    """An Erlang binary (an Elixir string)."""


def _decode_term(data: bytes) -> object:
    """An external-term-format term (``term_to_binary``), compressed or not."""
    if data[:1] != b"\x83":
        raise ImageUnreadable("debug info that is not in the external term format")
    if data[1:2] == b"P":
        return _Decoder(zlib.decompress(data[6:])).term()
    return _Decoder(data[1:]).term()


class _Decoder:
    """The subset of the external term format debug info uses."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def _take(self, size: int) -> bytes:
        chunk = self._data[self._at:self._at + size]
        if len(chunk) != size:
            raise ImageUnreadable("truncated debug info in a .beam file")
        self._at += size
        return chunk

    def _uint(self, size: int) -> int:
        return int.from_bytes(self._take(size), "big")

    def term(self) -> object:
        tag = self._uint(1)
        if tag == 97:
            return self._uint(1)
        if tag == 98:
            return int.from_bytes(self._take(4), "big", signed=True)
        if tag in (100, 118):
            return Atom(self._take(self._uint(2)).decode("utf-8", errors="replace"))
        if tag in (115, 119):
            return Atom(self._take(self._uint(1)).decode("utf-8", errors="replace"))
        if tag in (104, 105):
            return tuple(self.term() for _ in range(self._uint(1 if tag == 104 else 4)))
        if tag == 106:
            return []
        if tag == 107:
            return list(self._take(self._uint(2)))
        if tag == 108:
            items = [self.term() for _ in range(self._uint(4))]
            tail = self.term()
            return items if tail == [] else [*items, tail]
        if tag == 109:
            return Binary(self._take(self._uint(4)))
        if tag == 77:
            size = self._uint(4)
            self._take(1)
            return Binary(self._take(size))
        if tag in (110, 111):
            size = self._uint(1 if tag == 110 else 4)
            sign = self._uint(1)
            value = int.from_bytes(self._take(size), "little")
            return -value if sign else value
        if tag == 70:
            return struct.unpack(">d", self._take(8))[0]
        if tag == 116:
            return {_hashable(self.term()): self.term() for _ in range(self._uint(4))}
        if tag == 113:
            return ("fun", self.term(), self.term(), self.term())
        raise ImageUnreadable(f"debug info uses term tag {tag}, which the audit does not read")


def _hashable(value: object) -> object:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


# -- the audit ------------------------------------------------------------------

def denied(module: str, function: str, arity: int) -> Denied | None:
    for rule in DENYLIST:
        if rule.module == module and rule.function in (None, function) and (
                rule.arities is None or arity in rule.arities):
            return rule
    return None


def audit(beams: Iterable[tuple[str, bytes]], sources: Mapping[str, bytes] | None = None) -> list[Finding]:
    """Findings for every ``(path, bytes)`` of ``lib/<app>-<vsn>/ebin/<module>.beam``.

    ``sources`` maps a module name to an unstripped copy of it (the release
    stage's ``_build``), read for the arguments that decide the danger.
    """
    findings = []
    for path, data in beams:
        match = _APP_DIR.search(path)
        if match is None:
            continue
        beam = read_beam(data)
        unstripped = read_beam(sources[beam.name]) if sources and beam.name in sources else beam
        for module, function, arity in sorted(set(beam.imports)):
            rule = denied(module, function, arity)
            if rule is None:
                continue
            target = f"{module}:{function}/{arity}"
            argument = "-" if rule.argument is None else _argument(unstripped, rule)
            if argument.startswith("literal ") and _harmless(argument):
                continue
            findings.append(Finding(match.group(1), beam.name, target, rule.why, argument))
    return sorted(findings, key=lambda f: (f.app, f.module, f.target))


def _argument(beam: Beam, rule: Denied) -> str:
    """What the debug info shows of the deciding argument at every call site."""
    if beam.debug_info is None:
        return "not seen: no debug info"
    assert rule.function is not None and rule.argument is not None
    seen = sorted({_describe(args[rule.argument]) for args in _call_args(beam.debug_info, rule)
                   if len(args) > rule.argument})
    if not seen:
        return "not seen: no call site in the debug info"
    return "; ".join(seen)


def _harmless(argument: str) -> bool:
    tags = [part.removeprefix("literal {").split(",", 1)[0] for part in argument.split("; ")]
    return all(tag in _HARMLESS_PORTS for tag in tags)


def _call_args(term: object, rule: Denied) -> Iterator[list[object]]:
    """Argument lists of every call to the rule's function in Erlang abstract code or Elixir AST."""
    stack = [term]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
            continue
        if not isinstance(node, tuple | list):
            continue
        stack.extend(node)
        if isinstance(node, tuple) and len(node) == 4 and node[0] == "call" and isinstance(node[3], list):
            if _erlang_callee(node[2]) in ((rule.module, rule.function), (None, rule.function)):
                yield node[3]
        elif isinstance(node, tuple) and len(node) == 3 and isinstance(node[2], list) and _elixir_callee(
                node[0]) == (rule.module, rule.function):
            yield node[2]


def _erlang_callee(fun: object) -> tuple[str | None, str] | None:
    if isinstance(fun, tuple) and len(fun) == 3 and fun[0] == "atom" and fun[2] in ("open_port", "load_nif"):
        return None, str(fun[2])  # an auto-imported BIF: erlang's
    if isinstance(fun, tuple) and len(fun) == 4 and fun[0] == "remote":
        module, function = fun[2], fun[3]
        if isinstance(module, tuple) and isinstance(function, tuple) and module[0] == function[0] == "atom":
            return str(module[2]), str(function[2])
    return None


def _elixir_callee(head: object) -> tuple[str, str] | None:
    if isinstance(head, tuple) and len(head) == 3 and head[0] == "." and isinstance(head[2], list) \
            and len(head[2]) == 2 and all(isinstance(part, Atom) for part in head[2]):
        return str(head[2][0]), str(head[2][1])
    return None


def _describe(node: object) -> str:
    value = _erlang_literal(node)
    if value is _NOT_LITERAL:
        value = _elixir_literal(node)
    return "computed at run time" if value is _NOT_LITERAL else f"literal {_show(value)}"


_NOT_LITERAL: Final = object()


def _erlang_literal(node: object) -> object:
    if not (isinstance(node, tuple) and len(node) >= 2 and isinstance(node[0], Atom)):
        return _NOT_LITERAL
    kind = node[0]
    if kind in ("atom", "integer", "char", "float") and len(node) == 3:
        return node[2]
    if kind == "string" and len(node) == 3:
        return node[2]
    if kind == "nil":
        return []
    if kind == "tuple" and len(node) == 3 and isinstance(node[2], list):
        items = [_erlang_literal(item) for item in node[2]]
        return _NOT_LITERAL if _NOT_LITERAL in items else tuple(items)
    if kind == "cons" and len(node) == 4:
        head, tail = _erlang_literal(node[2]), _erlang_literal(node[3])
        if _NOT_LITERAL in (head, tail) or not isinstance(tail, list):
            return _NOT_LITERAL  # computed, or an improper list
        return [head, *tail]
    return _NOT_LITERAL


def _elixir_literal(node: object) -> object:
    if isinstance(node, Atom | Binary | int | float):
        return node
    if isinstance(node, list):
        items = [_elixir_literal(item) for item in node]
        return _NOT_LITERAL if _NOT_LITERAL in items else items
    if isinstance(node, tuple) and len(node) == 2:
        items = [_elixir_literal(item) for item in node]
        return _NOT_LITERAL if _NOT_LITERAL in items else tuple(items)
    if isinstance(node, tuple) and len(node) == 3 and node[0] == "{}" and isinstance(node[2], list):
        items = [_elixir_literal(item) for item in node[2]]
        return _NOT_LITERAL if _NOT_LITERAL in items else tuple(items)
    return _NOT_LITERAL


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "{" + ",".join(_show(v) for v in value) + "}"
    if isinstance(value, Binary):
        return json.dumps(value.decode(errors="replace"))
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return json.dumps(bytes(value).decode(errors="replace"))
    if isinstance(value, list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    return str(value)


# -- judging --------------------------------------------------------------------

def baseline(otp_version: str) -> frozenset[str]:
    """OTP's and Elixir's own findings for ``otp_version`` (``module target`` keys)."""
    path = baseline_path(otp_version)
    if not path.is_file():
        return frozenset()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line)


def baseline_path(otp_version: str) -> Path:
    return _BASELINES / f"otp-{otp_version}.txt"


def package_allowances(path: Path = _BASELINES / "hex-packages.txt") -> dict[tuple[str, str], str]:
    """Built-in reasoned allowances for well-known Hex packages: ``(app, key)`` -> reason.

    Phoenix calls ``System.cmd`` for development-only features; without
    these a Phoenix project could not build from a config of pins only.
    Each holds for the named package's module alone, never for the app's
    own code, and never comes from the image or the project.
    """
    allowances = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            call, reason = line.split("|", 1)
            app, module, target = call.split()
            allowances[(app, f"{module} {target}")] = f"built in for the Hex package {app}: {reason.strip()}"
    return allowances


def judge(findings: Iterable[Finding], base: frozenset[str], allow: Iterable[Allowance],
          packages: Mapping[tuple[str, str], str] | None = None) -> list[Finding]:
    """Each finding with its verdict: baseline, allowed (with the reason) or violation.

    ``packages`` are the built-in allowances of :func:`package_allowances`,
    matched by the calling module's application as well as the call.
    """
    allowed = {f"{a.module} {a.target}": a.reason for a in allow}
    judged = []
    for finding in findings:
        package_reason = (packages or {}).get((finding.app, finding.key))
        if finding.key in base:
            verdict = "baseline"
        elif finding.key in allowed:
            verdict = f"allowed: {allowed[finding.key]}"
        elif package_reason:
            verdict = f"allowed: {package_reason}"
        else:
            verdict = "violation"
        judged.append(Finding(**{**asdict(finding), "verdict": verdict}))
    return judged


def to_json(findings: Iterable[Finding]) -> bytes:
    """The audit as recorded in the image: stable bytes for identical findings."""
    return (json.dumps({"findings": [asdict(f) for f in findings]}, indent=2, sort_keys=True) + "\n").encode()


def render(findings: Iterable[Finding]) -> str:
    """One line per finding, for ``verify`` and a failed build."""
    lines = [f"  {f.verdict.split(':')[0]:<9} {f.app}: {f.module} calls {f.target} ({f.why})"
             + ("" if f.argument == "-" else f"; argument: {f.argument}")
             + (f"; reason: {f.verdict.split(': ', 1)[1]}" if f.verdict.startswith("allowed") else "")
             for f in findings]
    return "\n".join(lines)


def audit_release(release: Iterable[tuple[str, bytes]], build: Iterable[tuple[str, bytes]],
                  otp_version: str, allow: Iterable[Allowance]) -> list[Finding]:
    """The judged findings of a release (paths under ``lib/``) whose unstripped
    modules are in ``build`` (the release stage's ``_build``, paths ending in ``.beam``)."""
    sources = {Path(path).stem: data for path, data in build if path.endswith(".beam")}
    beams = [(path, data) for path, data in release if path.endswith(".beam")]
    return judge(audit(beams, sources), baseline(otp_version), allow, package_allowances())
