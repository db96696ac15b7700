"""Helpers for the verifier's tests: small C programs, layer tars, docker-save archives.

Layers are written by hand and wrapped in the ``docker save`` format by the
assembler's own writer (builder.archive), so the tests need no registry, can
build entries Docker's own builder never would (traversal names, devices, …)
and read most images in memory, without an engine.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from builder import contract
from builder.archive import write_save_archive
from hygiene import LABELS

# A program with a stack buffer and fortifiable calls whose sizes the compiler
# knows, so each flag leaves visible evidence.
PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[64];
    strcpy(buf, argc > 1 ? argv[1] : "none");
    char line[32];
    ssize_t n = read(0, line, sizeof line);
    printf("%s %zd\n", buf, n);
    return 0;
}
"""
# Nothing in it that _FORTIFY_SOURCE could rewrite.
TRIVIAL = "int main(void) { return 0; }\n"
LIBRARY = r"""
#include <stdio.h>
#include <string.h>
int demo(const char *s) { char b[32]; strcpy(b, s); return printf("%s\n", b); }
"""

HARDENED = ("-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE", "-pie",
            "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack")


def compile_c(out: Path, source: str, flags: tuple[str, ...]) -> Path:
    """Compile ``source`` with gcc; fail the test loudly if gcc is missing or refuses."""
    src = out.with_suffix(".c")
    src.write_text(source)
    subprocess.run(["gcc", *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    return out


def without(flags: tuple[str, ...], *drop: str) -> tuple[str, ...]:
    return tuple(f for f in flags if f not in drop)


@dataclass(frozen=True)
class Item:
    """One entry of a layer tar, written exactly as given (names are not cleaned)."""

    name: str
    kind: str = "file"  # file, dir, symlink, hardlink, chr, blk, fifo
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    target: str = ""


def file(name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> Item:
    return Item(name, "file", data, mode, uid, gid)


def directory(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Item:
    return Item(name, "dir", mode=mode, uid=uid, gid=gid)


def symlink(name: str, target: str) -> Item:
    return Item(name, "symlink", mode=0o777, target=target)


def hardlink(name: str, target: str) -> Item:
    return Item(name, "hardlink", target=target)


_TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
          "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
          "fifo": tarfile.FIFOTYPE}


def layer(items: list[Item]) -> bytes:
    """A layer tar holding ``items`` in order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for item in items:
            info = tarfile.TarInfo(item.name)
            info.type = _TYPES[item.kind]
            info.mode, info.uid, info.gid, info.mtime = item.mode, item.uid, item.gid, 0
            info.linkname = item.target
            if item.kind == "file":
                info.size = len(item.data)
                tar.addfile(info, io.BytesIO(item.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def save_archive(layers: list[bytes], tag: str, *, user: str = contract.RUN_USER,
                 entrypoint: tuple[str, ...] = ("/app/bin/server",), env: tuple[str, ...] = ()) -> bytes:
    """A ``docker save`` archive of an image made of ``layers``, written by the assembler's own writer.

    The image carries the tests' label, so one left in the engine is found at the end of the run.
    """
    out = io.BytesIO()
    settings = {"User": user, "Entrypoint": list(entrypoint), "Env": list(env), "Labels": LABELS}
    write_save_archive(out, tag, layers, settings, created="1970-01-01T00:00:00Z",
                       history=["verify test"] * len(layers))
    return out.getvalue()


# -- the other checkers ------------------------------------------------------
# Each maps a tool's words onto True (has it), False (lacks it) or None (the
# tool says "nothing to judge"), per property name of builder.verify.

def checksec_verdicts(path: Path) -> dict[str, bool | None]:
    """Debian checksec's opinion of one file."""
    done = subprocess.run(["checksec", f"--file={path}", "--output=json"],
                          check=True, capture_output=True, text=True)
    facts = next(iter(json.loads(done.stdout).values()))
    fortify: bool | None = facts["fortify_source"] == "yes"
    if not fortify and facts["fortify-able"] == "0":
        fortify = None
    return {
        "pie": facts["pie"] in ("yes", "dso"),
        "relro": facts["relro"] == "full",
        "stack-protector": facts["canary"] == "yes",
        "fortify": fortify,
        "nx-stack": facts["nx"] == "yes",
        "no-rpath": facts["rpath"] == "no" and facts["runpath"] == "no",
    }


def hardening_check_verdicts(path: Path) -> dict[str, bool | None]:
    """devscripts' hardening-check opinion (it never judges NX or RPATH)."""
    done = subprocess.run(["hardening-check", str(path)], capture_output=True, text=True)
    lines = dict(line.strip().split(": ", 1) for line in done.stdout.splitlines()[1:] if ": " in line)

    def said(key: str) -> bool | None:
        answer = lines[key]
        if answer.startswith("yes"):
            return True
        if answer.startswith("unknown") or "ignored" in answer:
            return None
        return False

    relro, now = said("Read-only relocations"), said("Immediate binding")
    verdicts = {
        "relro": bool(relro and now),
        "stack-protector": said("Stack protected"),
        "fortify": said("Fortify Source functions"),
    }
    if "ignored" not in lines["Position Independent Executable"]:  # it skips shared libraries
        verdicts["pie"] = said("Position Independent Executable")
    return verdicts


def our_verdicts(facts) -> dict[str, bool | None]:  # type: ignore[no-untyped-def]
    """builder.verify's verdicts in the same words."""
    from builder.verify.elf import Status
    return {c.property: {Status.PASS: True, Status.FAIL: False}.get(c.status) for c in facts.checks}


def disagreements(ours: dict[str, bool | None], theirs: dict[str, bool | None]) -> dict[str, tuple]:
    return {p: (ours[p], v) for p, v in theirs.items() if ours[p] != v}
