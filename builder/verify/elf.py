"""Hardening facts of one ELF file, read with pyelftools.

The verifier applies strict rules itself instead of trusting ``checksec`` or
``hardening-check``: both are heuristics that disagree (``checksec`` calls
every shared object "PIE" and accepts BIND_NOW alone as "Full RELRO";
``hardening-check`` never looks at NX or RPATH).  Each rule below says what
evidence in the file counts, so a reader can reproduce a verdict with
``readelf``.

Only the dynamic symbol table is read: it is what the loader sees, it survives
``strip``, and it is small even for beam.smp.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from enum import StrEnum

from elftools.common.exceptions import ELFError
from elftools.elf.constants import P_FLAGS
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import NoteSection, SymbolTableSection
from elftools.elf.segments import InterpSegment, Segment

ELF_MAGIC = b"\x7fELF"

# Property names, as written in build-image.yaml (`verify.require`) and in reports.
PIE = "pie"
RELRO = "relro"
STACK_PROTECTOR = "stack-protector"
FORTIFY = "fortify"
NX_STACK = "nx-stack"
NO_RPATH = "no-rpath"
CET = "cet"

# glibc's checked variants (``__<name>_chk``), as exported by Debian 12's
# libc.so.6.  A binary that imports one of the base names but none of the
# checked variants was built without _FORTIFY_SOURCE (or with nothing the
# compiler could size); one that imports none of them has nothing to fortify.
FORTIFIABLE = frozenset([
    "asprintf", "confstr", "dprintf", "explicit_bzero", "fgets", "fgets_unlocked", "fgetws",
    "fgetws_unlocked", "fprintf", "fread", "fread_unlocked", "fwprintf", "getcwd", "getdomainname",
    "getgroups", "gethostname", "getlogin_r", "gets", "getwd", "longjmp", "mbsnrtowcs", "mbsrtowcs",
    "mbstowcs", "memcpy", "memmove", "mempcpy", "memset", "obstack_printf", "obstack_vprintf",
    "poll", "ppoll", "pread", "pread64", "printf", "ptsname_r", "read", "readlink", "readlinkat",
    "realpath", "recv", "recvfrom", "snprintf", "sprintf", "stpcpy", "stpncpy", "strcat", "strcpy",
    "strncat", "strncpy", "swprintf", "syslog", "ttyname_r", "vasprintf", "vdprintf", "vfprintf",
    "vfwprintf", "vprintf", "vsnprintf", "vsprintf", "vswprintf", "vsyslog", "vwprintf", "wcpcpy",
    "wcpncpy", "wcrtomb", "wcscat", "wcscpy", "wcsncat", "wcsncpy", "wcsnrtombs", "wcsrtombs",
    "wcstombs", "wctomb", "wmemcpy", "wmemmove", "wmempcpy", "wmemset", "wprintf",
])

_DF_BIND_NOW = 0x8
_DF_1_NOW = 0x1
_DF_1_PIE = 0x08000000
_X86_FEATURE_IBT = 0x1
_X86_FEATURE_SHSTK = 0x2


class Status(StrEnum):
    """Outcome of one property on one file."""

    PASS = "pass"
    FAIL = "fail"
    NOTHING_FORTIFIABLE = "nothing-fortifiable"


@dataclass(frozen=True)
class Check:
    """One property's verdict on one file, with the evidence in words."""

    property: str
    status: Status
    detail: str


class ElfKind(StrEnum):
    """What the ELF header and dynamic section say a file is."""

    EXECUTABLE = "executable"
    PIE_EXECUTABLE = "pie-executable"
    STATIC_PIE = "static-pie"
    SHARED_OBJECT = "shared-object"


@dataclass(frozen=True)
class ElfFacts:
    """What the verifier learned from one ELF file."""

    kind: ElfKind
    soname: str
    interp: str
    needed: tuple[str, ...]
    checks: tuple[Check, ...]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.property == name)


class NotAnElf(Exception):
    """The bytes are not an ELF executable or shared object we can judge."""


def looks_like_elf(head: bytes) -> bool:
    return head.startswith(ELF_MAGIC)


def inspect_elf(data: bytes) -> ElfFacts:
    """Judge every property on an ELF executable or shared object.

    Raises :class:`NotAnElf` for relocatable objects, core files and files
    pyelftools cannot parse: they are not loaded by anything in the image.
    """
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_type"] not in ("ET_EXEC", "ET_DYN"):
            raise NotAnElf(f"ELF type {elf['e_type']}")
        return _facts(elf)
    except (ELFError, ValueError, KeyError, AssertionError) as exc:
        raise NotAnElf(str(exc)) from exc


@dataclass(frozen=True)
class _Symbols:
    imported: frozenset[str]
    defined: frozenset[str]


@dataclass(frozen=True)
class _Dynamic:
    tags: dict[str, list[object]]

    def values(self, tag: str) -> list[object]:
        return self.tags.get(tag, [])

    def flag(self, tag: str) -> int:
        value = 0
        for v in self.values(tag):
            value |= v if isinstance(v, int) else 0
        return value


def _facts(elf: ELFFile) -> ElfFacts:
    segments = list(elf.iter_segments())
    types = {seg["p_type"] for seg in segments}
    interp = next((seg.get_interp_name() for seg in segments if isinstance(seg, InterpSegment)), "")
    sections = {section.name: section for section in elf.iter_sections()}
    dynamic = _dynamic(sections.get(".dynamic"))
    symbols = _symbols(elf, sections.get(".dynsym"))
    kind = _kind(elf, interp, dynamic)
    checks = (
        _pie(kind, dynamic),
        _relro(types, dynamic),
        _stack_protector(symbols),
        _fortify(symbols),
        _nx_stack(segments),
        _rpath(dynamic),
        _cet(sections.get(".note.gnu.property")),
    )
    soname = next((str(v) for v in dynamic.values("DT_SONAME")), "")
    needed = tuple(str(v) for v in dynamic.values("DT_NEEDED"))
    return ElfFacts(kind=kind, soname=soname, interp=interp, needed=needed, checks=checks)


_STRING_TAGS = {"DT_NEEDED": "needed", "DT_SONAME": "soname", "DT_RPATH": "rpath", "DT_RUNPATH": "runpath"}


def _dynamic(section: object) -> _Dynamic:
    tags: dict[str, list[object]] = {}
    if isinstance(section, DynamicSection):
        for tag in section.iter_tags():
            name = str(tag.entry.d_tag)
            value = getattr(tag, _STRING_TAGS[name]) if name in _STRING_TAGS else tag.entry.d_val
            tags.setdefault(name, []).append(value)
    return _Dynamic(tags)


def _symbols(elf: ELFFile, section: object) -> _Symbols:
    """Imported and defined dynamic symbols.

    pyelftools locates the table and its string table; the entries are then
    unpacked in bulk with ``struct`` because decoding thousands of symbols one
    by one through pyelftools costs seconds on beam.smp or a static libcrypto.
    """
    if not isinstance(section, SymbolTableSection) or not section["sh_entsize"]:
        return _Symbols(frozenset(), frozenset())
    strings = elf.get_section(section["sh_link"]).data()
    order = "<" if elf.little_endian else ">"
    # (name offset, section index) positions differ between ELF32 and ELF64
    layout, name_at, shndx_at = ((f"{order}IBBHQQ", 0, 3) if elf.elfclass == 64 else (f"{order}IIIBBH", 0, 5))
    size = struct.calcsize(layout)
    data = section.data()
    imported: set[str] = set()
    defined: set[str] = set()
    for entry in struct.iter_unpack(layout, data[: len(data) - len(data) % size]):
        offset = entry[name_at]
        if not offset:
            continue
        name = strings[offset:strings.index(b"\0", offset)].decode("utf-8", errors="replace")
        (imported if entry[shndx_at] == 0 else defined).add(name)
    return _Symbols(frozenset(imported), frozenset(defined))


def _kind(elf: ELFFile, interp: str, dynamic: _Dynamic) -> ElfKind:
    if elf["e_type"] == "ET_EXEC":
        return ElfKind.EXECUTABLE
    pie_flag = bool(dynamic.flag("DT_FLAGS_1") & _DF_1_PIE)
    if interp and (pie_flag or not dynamic.values("DT_SONAME")):
        return ElfKind.PIE_EXECUTABLE
    return ElfKind.STATIC_PIE if pie_flag else ElfKind.SHARED_OBJECT


def _pie(kind: ElfKind, dynamic: _Dynamic) -> Check:
    if kind is ElfKind.EXECUTABLE:
        return Check(PIE, Status.FAIL, "ET_EXEC: fixed load address (linked without -pie)")
    if dynamic.values("DT_TEXTREL") or dynamic.flag("DT_FLAGS") & 0x4:
        return Check(PIE, Status.FAIL, f"{kind} with text relocations (code not compiled -fPIC)")
    return Check(PIE, Status.PASS, kind)


def _relro(types: set[str], dynamic: _Dynamic) -> Check:
    if "PT_GNU_RELRO" not in types:
        return Check(RELRO, Status.FAIL, "no PT_GNU_RELRO (linked without -z relro)")
    if not dynamic.tags:
        return Check(RELRO, Status.PASS, "PT_GNU_RELRO, statically linked (no lazy binding)")
    now = (dynamic.values("DT_BIND_NOW") or dynamic.flag("DT_FLAGS") & _DF_BIND_NOW
           or dynamic.flag("DT_FLAGS_1") & _DF_1_NOW)
    if not now:
        return Check(RELRO, Status.FAIL, "partial: PT_GNU_RELRO without BIND_NOW (linked without -z now)")
    return Check(RELRO, Status.PASS, "full: PT_GNU_RELRO and BIND_NOW")


def _stack_protector(symbols: _Symbols) -> Check:
    for name in ("__stack_chk_fail", "__stack_chk_guard"):
        if name in symbols.imported:
            return Check(STACK_PROTECTOR, Status.PASS, f"imports {name}")
    if "__stack_chk_fail" in symbols.defined:
        # The C library itself: its own functions call the local alias, so
        # the evidence is that it provides the handler, not that it imports it.
        return Check(STACK_PROTECTOR, Status.PASS, "defines __stack_chk_fail (the C library)")
    return Check(STACK_PROTECTOR, Status.FAIL, "no __stack_chk_fail/__stack_chk_guard import")


def _fortify(symbols: _Symbols) -> Check:
    checked = sorted(n for n in symbols.imported if n.startswith("__") and n.endswith("_chk")
                     and n[2:-4] in FORTIFIABLE)
    if checked:
        return Check(FORTIFY, Status.PASS, f"imports {len(checked)} checked function(s), e.g. {checked[0]}")
    plain = sorted(n for n in symbols.imported if n in FORTIFIABLE)
    if plain:
        return Check(FORTIFY, Status.FAIL,
                     f"imports {', '.join(plain[:4])}{'…' if len(plain) > 4 else ''} but no *_chk variant")
    provided = sum(1 for n in symbols.defined if n.endswith("_chk") and n[2:-4] in FORTIFIABLE)
    if provided:
        return Check(FORTIFY, Status.NOTHING_FORTIFIABLE,
                     f"defines {provided} *_chk functions (the C library); imports none")
    return Check(FORTIFY, Status.NOTHING_FORTIFIABLE, "imports no fortifiable libc function")


def _nx_stack(segments: list[Segment]) -> Check:
    stack = next((seg for seg in segments if seg["p_type"] == "PT_GNU_STACK"), None)
    if stack is None:
        return Check(NX_STACK, Status.FAIL, "no PT_GNU_STACK: the kernel maps the stack executable")
    if stack["p_flags"] & P_FLAGS.PF_X:
        return Check(NX_STACK, Status.FAIL, "PT_GNU_STACK is executable (RWE)")
    return Check(NX_STACK, Status.PASS, "PT_GNU_STACK without X")


def _rpath(dynamic: _Dynamic) -> Check:
    found = [f"{tag[3:]}={value}" for tag in ("DT_RPATH", "DT_RUNPATH") for value in dynamic.values(tag)]
    if found:
        return Check(NO_RPATH, Status.FAIL, "; ".join(found))
    return Check(NO_RPATH, Status.PASS, "no RPATH or RUNPATH")


def _cet(section: object) -> Check:
    features = 0
    if isinstance(section, NoteSection):
        for note in section.iter_notes():
            if note["n_type"] != "NT_GNU_PROPERTY_TYPE_0":
                continue
            for prop in note["n_desc"]:
                if prop["pr_type"] == "GNU_PROPERTY_X86_FEATURE_1_AND":
                    features |= int(prop["pr_data"])
    marks = [name for bit, name in ((_X86_FEATURE_IBT, "IBT"), (_X86_FEATURE_SHSTK, "SHSTK")) if features & bit]
    if len(marks) == 2:
        return Check(CET, Status.PASS, "IBT and SHSTK marked")
    return Check(CET, Status.FAIL, f"only {marks[0]} marked" if marks else "neither IBT nor SHSTK marked")
