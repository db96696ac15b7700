"""Reading compiled BEAM modules: their chunks, atoms and import table.

Which shell-dependent functions a module calls is the verifier's use:
``os:cmd/1,2`` and ``heart`` (with ``HEART_COMMAND``) run through
``/bin/sh``, which a shell-free image does not have: they fail at run time,
not at build time.  Reading a module's import table (``ImpT`` chunk, atoms
from ``AtU8``) finds the calls without loading anything.  The build-time
call audit (``builder.audit``) reads modules through :func:`read_chunks` too.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass

SHELL_DEPENDENT_MODULES = frozenset({"heart"})
SHELL_DEPENDENT_FUNCTIONS = frozenset({("os", "cmd")})


class NotABeam(Exception):
    """The bytes are not a BEAM file this reader understands."""


@dataclass(frozen=True)
class BeamChunks:
    """A module's chunks by name, with its atom table decoded."""

    chunks: dict[bytes, bytes]
    atoms: list[str]

    @property
    def module(self) -> str:
        return self.atoms[0]

    def imports(self) -> list[tuple[str, str, int]]:
        """(module, function, arity) of every external function the module calls."""
        return _imports(self.chunks.get(b"ImpT", b""), self.atoms)


def read_chunks(data: bytes) -> BeamChunks:
    """Split a (possibly gzipped) .beam file; :class:`NotABeam` when it is not one."""
    chunks = _chunks(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return BeamChunks(chunks, _atoms(chunks))


def shell_dependent_imports(data: bytes) -> tuple[str, ...]:
    """``module:function/arity`` of every import that needs ``/bin/sh``."""
    found = set()
    for module, function, arity in read_chunks(data).imports():
        if module in SHELL_DEPENDENT_MODULES or (module, function) in SHELL_DEPENDENT_FUNCTIONS:
            found.add(f"{module}:{function}/{arity}")
    return tuple(sorted(found))


def _chunks(data: bytes) -> dict[bytes, bytes]:
    if data[:4] != b"FOR1" or data[8:12] != b"BEAM":
        raise NotABeam("no FOR1/BEAM header")
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        name = data[offset:offset + 4]
        (size,) = struct.unpack_from(">I", data, offset + 4)
        chunks[name] = data[offset + 8:offset + 8 + size]
        offset += 8 + ((size + 3) & ~3)
    return chunks


def _atoms(chunks: dict[bytes, bytes]) -> list[str]:
    table = chunks.get(b"AtU8") or chunks.get(b"Atom")
    if table is None:
        raise NotABeam("no atom table")
    (count,) = struct.unpack_from(">i", table, 0)
    compact = count < 0  # OTP 28+: lengths in the compact term encoding
    atoms, offset = [], 4
    for _ in range(abs(count)):
        if compact:
            length, offset = _compact_unsigned(table, offset)
        else:
            length, offset = table[offset], offset + 1
        atoms.append(table[offset:offset + length].decode("utf-8", errors="replace"))
        offset += length
    return atoms


def _compact_unsigned(table: bytes, offset: int) -> tuple[int, int]:
    first = table[offset]
    if not first & 0x08:
        return first >> 4, offset + 1
    if not first & 0x10:
        return ((first & 0xE0) << 3) | table[offset + 1], offset + 2
    size = (first >> 5) + 2
    return int.from_bytes(table[offset + 1:offset + 1 + size], "big"), offset + 1 + size


def _imports(table: bytes, atoms: list[str]) -> list[tuple[str, str, int]]:
    if len(table) < 4:
        return []
    (count,) = struct.unpack_from(">I", table, 0)
    entries = []
    for index in range(count):
        module, function, arity = struct.unpack_from(">III", table, 4 + 12 * index)
        entries.append((atoms[module - 1], atoms[function - 1], arity))
    return entries
