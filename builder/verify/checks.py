"""The policy, applied to an image's final filesystem and its layers.

Each check returns :class:`Finding` objects; whether a finding is a violation
or is waived is decided once, in ``verify_image``, so every check stays a
plain statement about the image.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterator

from builder import audit, contract
from builder.verify.elf import CET, FORTIFY, Status
from builder.verify.imagefs import ImageContents, Node, NodeKind, SecretKind
from builder.verify.policy import VerifyPolicy
from builder.verify.report import ElfRow, Finding, Note
from builder.vmflags import vm_args_problems

#: Program names that are shells or script interpreters (a name alone is enough:
#: a renamed copy is caught by its interpreter library or signature instead).
SHELL_NAMES = re.compile(
    r"(?:sh|bash|rbash|dash|ash|zsh|ksh|ksh93|mksh|pdksh|csh|tcsh|fish|busybox|toybox"
    r"|perl[0-9.]*|python[0-9.]*m?|ruby[0-9.]*|irb|lua[0-9.]*|luajit|node|nodejs|php[0-9.]*"
    r"|tclsh[0-9.]*|wish[0-9.]*|expect|gawk|mawk|nawk|awk|guile[0-9.]*|escript)"
)
#: Shared libraries that embed an interpreter (by soname or DT_NEEDED).
INTERPRETER_LIBRARIES = re.compile(r"lib(?:python|perl|ruby|lua|tcl|guile|node|php)[0-9.]*(?:\.so|-)")

#: OTP and Elixir applications whose own calls to os:cmd/heart are the
#: platform's business; the note is about the user's code.
PLATFORM_APPS = frozenset([
    "kernel", "stdlib", "compiler", "sasl", "crypto", "ssl", "public_key", "asn1", "inets",
    "os_mon", "runtime_tools", "tools", "mnesia", "xmerl", "syntax_tools", "parsetools", "eldap",
    "snmp", "ssh", "ftp", "tftp", "erl_interface", "observer", "debugger", "wx", "et", "megaco",
    "diameter", "edoc", "eunit", "common_test", "dialyzer", "reltool", "erts", "elixir", "logger",
    "iex", "eex", "mix", "ex_unit", "hex",
])

_STICKY = 0o1000


def elf_findings(contents: ImageContents, policy: VerifyPolicy) -> tuple[list[Finding], list[Note], list[ElfRow]]:
    """Required ELF properties on every executable and shared object."""
    findings, notes, rows = [], [], []
    cet_marked = 0
    for node in _sorted(contents):
        if node.elf_error:
            findings.append(Finding("readable-elf", node.path, f"ELF magic but unparseable: {node.elf_error}"))
        if node.elf is None:
            continue
        rows.append(ElfRow(node.path, node.elf.kind, node.elf.checks))
        for check in node.elf.checks:
            if check.property in policy.required and check.status is Status.FAIL:
                findings.append(Finding(check.property, node.path, check.detail))
            if check.property == FORTIFY and check.status is Status.NOTHING_FORTIFIABLE:
                notes.append(Note("nothing fortifiable", node.path, check.detail))
            if check.property == CET and check.status is Status.PASS:
                cet_marked += 1
    if rows and CET not in policy.required:
        notes.append(Note("cet", "", f"{cet_marked} of {len(rows)} ELF files carry IBT and SHSTK; informational "
                                     "(Debian 12's C start files drop the marking from linked programs)"))
    return findings, notes, rows


def image_findings(contents: ImageContents, policy: VerifyPolicy) -> list[Finding]:
    """Every image-wide check, in a stable order."""
    return [
        *_shells(contents),
        *_run_user(contents, policy),
        *_entrypoint(contents, policy),
        *_hardlinks(contents, policy),
        *_setuid(contents),
        *_world_writable(contents),
        *_read_only_app(contents, policy),
        *_secrets(contents),
        *_dist_certs(contents, policy),
        *_vm_args(contents, policy),
        *_vm_env(contents),
        *_beam_audit(contents),
    ]


def shell_call_notes(contents: ImageContents, policy: VerifyPolicy) -> list[Note]:
    """App modules calling os:cmd or heart, which need /bin/sh."""
    notes = []
    lib = policy.app_root.rstrip("/") + "/lib/"
    for node in _sorted(contents):
        if not node.shell_calls or not node.path.startswith(lib):
            continue
        app = node.path[len(lib):].split("/", 1)[0].rsplit("-", 1)[0]
        if app in PLATFORM_APPS:
            continue
        module = posixpath.basename(node.path).removesuffix(".beam")
        notes.append(Note("needs /bin/sh", node.path,
                          f"{app}: {module} calls {', '.join(node.shell_calls)}, which runs through /bin/sh "
                          "and fails in this shell-free image"))
    return notes


def _sorted(contents: ImageContents) -> Iterator[Node]:
    return (contents.files[p] for p in sorted(contents.files))


def _shells(contents: ImageContents) -> Iterator[Finding]:
    for node in _sorted(contents):
        if node.kind is NodeKind.DIR:
            continue
        name = posixpath.basename(node.path)
        if SHELL_NAMES.fullmatch(name):
            yield Finding("no-shell", node.path, f"shell or interpreter by name ({node.kind})")
        elif node.elf and any(INTERPRETER_LIBRARIES.match(lib) for lib in (node.elf.soname, *node.elf.needed)):
            libs = [lib for lib in (node.elf.soname, *node.elf.needed) if INTERPRETER_LIBRARIES.match(lib)]
            yield Finding("no-shell", node.path, f"embeds an interpreter ({', '.join(libs)})")
        elif "busybox" in node.embeds:
            yield Finding("no-shell", node.path, "a BusyBox binary under another name")
        elif node.shebang:
            yield Finding("no-shell", node.path, f"script that needs an interpreter: {node.shebang}")


def _run_user(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    user, _, group = contents.user.partition(":")
    if not user:
        yield Finding("run-user", "", "no USER: the container runs as root")
    elif not user.isdigit() or (group and not group.isdigit()):
        yield Finding("run-user", "", f"USER {contents.user!r} is not numeric (Kubernetes runAsNonRoot needs a UID)")
    elif int(user) == 0:
        yield Finding("run-user", "", f"USER {contents.user!r} is root")
    elif int(user) != policy.run_user:
        yield Finding("run-user", "", f"USER {contents.user!r} is not the configured run user {policy.run_user}")


def _entrypoint(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    if contents.entrypoint != (policy.entrypoint,):
        yield Finding("entrypoint", "", f"ENTRYPOINT {list(contents.entrypoint)} is not [{policy.entrypoint!r}]")
    node = contents.files.get(policy.entrypoint)
    if node is None or node.kind is not NodeKind.FILE:
        yield Finding("entrypoint", policy.entrypoint, "the launcher is not a regular file in the image")
    elif node.elf is None:
        yield Finding("entrypoint", policy.entrypoint, "the launcher is not an ELF executable")
    elif not node.mode & 0o001:
        yield Finding("entrypoint", policy.entrypoint, f"mode {node.mode:04o}: the run user cannot execute it")


def _hardlinks(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    launcher = contents.files.get(policy.entrypoint)
    bindir = policy.app_root.rstrip("/") + "/bin"
    for verb in policy.verbs:
        path = f"{bindir}/{verb}"
        node = contents.files.get(path)
        if node is None or node.kind is not NodeKind.FILE:
            yield Finding("hardlinked-entrypoints", path, f"verb {verb!r} is not a file in the image")
        elif launcher is None or node.inode != launcher.inode:
            yield Finding("hardlinked-entrypoints", path, f"not a hard link of {policy.entrypoint}")


def _setuid(contents: ImageContents) -> Iterator[Finding]:
    for node in _sorted(contents):
        if node.kind is not NodeKind.DIR and node.mode & 0o6000:
            bits = " and ".join(b for bit, b in ((0o4000, "setuid"), (0o2000, "setgid")) if node.mode & bit)
            yield Finding("no-setuid", node.path, f"mode {node.mode:04o} ({bits})")


def _world_writable(contents: ImageContents) -> Iterator[Finding]:
    for node in _sorted(contents):
        if node.kind is NodeKind.SYMLINK or not node.mode & 0o002:
            continue
        if node.path == "/tmp" and node.kind is NodeKind.DIR and node.mode & _STICKY:
            continue
        yield Finding("no-world-writable", node.path, f"{node.kind} mode {node.mode:04o}")


def _read_only_app(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    root = policy.app_root.rstrip("/")
    for node in _sorted(contents):
        if node.path != root and not node.path.startswith(root + "/"):
            continue
        if node.uid == policy.run_user:
            yield Finding("read-only-app", node.path, f"owned by the run user {policy.run_user}")
        elif node.kind is not NodeKind.SYMLINK and node.gid == policy.run_user and node.mode & 0o020:
            yield Finding("read-only-app", node.path, f"group-writable by the run user's group {policy.run_user}")


def _secrets(contents: ImageContents) -> Iterator[Finding]:
    for sighting in contents.sightings:
        check = "no-cookie" if sighting.kind is SecretKind.COOKIE else "no-private-key"
        where = f"in layer {sighting.layer}"
        if sighting.deleted:
            where += ", deleted by a later layer but still shipped in the image"
        yield Finding(check, sighting.path, f"{sighting.kind.replace('-', ' ')} {where}")


def _dist_certs(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    mount = policy.app_root.rstrip("/") + "/dist-certs"
    for node in sorted(contents.children(mount), key=lambda n: n.path):
        yield Finding("empty-dist-certs", node.path, "the certificate mount point must be empty in the image")


def _vm_args(contents: ImageContents, policy: VerifyPolicy) -> Iterator[Finding]:
    releases = policy.app_root.rstrip("/") + "/releases/"
    for node in _sorted(contents):
        if node.path.startswith(releases) and posixpath.basename(node.path) == "vm.args":
            for problem in vm_args_problems(node.text):
                yield Finding("vm-args", node.path, f"line {problem.line}: {problem.word}: {problem.reason}")


def _recorded_audit(contents: ImageContents) -> list[audit.Finding] | None:
    """The BEAM call audit the assembler recorded in the image; None when it recorded none."""
    node = contents.files.get(audit.AUDIT_PATH)
    if node is None:
        return None
    try:
        return [audit.Finding(**item) for item in json.loads(node.text)["findings"]]
    except (ValueError, KeyError, TypeError):
        return []


def _beam_audit(contents: ImageContents) -> Iterator[Finding]:
    for finding in _recorded_audit(contents) or []:
        if finding.verdict == "violation":
            line = audit.render([finding]).strip().removeprefix("violation").strip()
            yield Finding("beam-audit", audit.AUDIT_PATH, line)


def beam_audit_notes(contents: ImageContents) -> list[Note]:
    """What the audit found and let through: OTP's baseline in one line, each allowance with its reason."""
    findings = _recorded_audit(contents)
    if findings is None:
        return [Note("beam audit", "", f"the image records no BEAM call audit ({audit.AUDIT_PATH}): "
                                       "not built by this build-image")]
    notes = [Note("beam audit", audit.AUDIT_PATH, line.strip())
             for finding in findings if finding.verdict.startswith("allowed")
             for line in audit.render([finding]).splitlines()]
    base = [f for f in findings if f.verdict == "baseline"]
    notes.append(Note("beam audit", audit.AUDIT_PATH,
                      f"{len(base)} calls of OTP's and Elixir's own modules within the OTP pin's baseline "
                      f"({len({f.app for f in base})} applications); "
                      f"{sum(f.verdict != 'baseline' for f in findings)} other findings, each listed"))
    return notes


def _vm_env(contents: ImageContents) -> Iterator[Finding]:
    for item in contents.env:
        name = item.partition("=")[0]
        refused = name.startswith(contract.REFUSED_ENV_PREFIXES) or name in contract.REFUSED_ENV_NAMES
        if refused and name not in contract.ALLOWED_ENV_NAMES:
            yield Finding("no-vm-env", "", f"ENV {name} is set: the launcher refuses to start "
                                           f"(exit {contract.EXIT_ENV_REFUSED}) while it is")
