"""Read an image back, safely, as the filesystem a container would see.

The input is the ``docker save`` stream (``Engine.save_image``).  Nothing is
extracted: the archive and every layer inside it are read once, in order, as
tar streams (``tarsafe``'s ``TarSafe``, stream mode), and each entry is
judged before it is believed.  Any entry that would reach outside the image
root when unpacked — an absolute or ``..`` name, a hard link to such a name, a
relative symlink that climbs above ``/``, an entry placed beneath a symlink,
a device node — makes the whole image unreadable (:class:`ImageUnreadable`,
exit 2): a hostile image is reported, never followed.  These rules are
stricter than ``tarsafe``'s extraction checks, which resolve every link from
the archive root and would both reject legal relative symlinks and accept
entries written through an earlier symlink.

Layers are applied in manifest order with overlay whiteouts (``.wh.<name>``
and the opaque ``.wh..wh..opq``), so the checks see the final filesystem.  A
secret sighting (cookie, private key) is kept per layer, because a file a
later layer deletes is still in the image for anyone who pulls it.

``docker save`` writes ``manifest.json`` after the layers, so each tar member
of the archive is scanned as it streams past and matched to the manifest at
the end; only one file's bytes are held in memory at a time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import posixpath
import re
import tarfile
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from tarsafe import TarSafe

from builder.errors import ImageUnreadable
from builder.tarnames import HostileEntry, clean_name, inside_root, kind_word
from builder.verify.beam import NotABeam, shell_dependent_imports
from builder.verify.elf import ElfFacts, NotAnElf, inspect_elf, looks_like_elf

_BUFSIZE = 1 << 20
_JSON_LIMIT = 16 << 20
_KEY_SCAN_LIMIT = 4 << 20
_ELF_LIMIT = 1 << 30
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\s*[A-Za-z0-9+/=:,\s-]{32}")
_COOKIE_NAMES = (".erlang.cookie",)
_READ_WHOLE = frozenset({"vm.args", "beam-audit.json"})
_READ_WHOLE_UNDER = "/var/lib/dpkg/status.d/"  # package records and file lists (builder.verify.dpkg)
_TEXT_LIMIT = 1 << 20


class NodeKind(StrEnum):
    """What a path of the final filesystem is (devices never get this far)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    FIFO = "fifo"


class SecretKind(StrEnum):
    """A secret the image must not carry in any layer."""

    COOKIE = "cookie"
    PRIVATE_KEY = "private-key"


@dataclass(frozen=True)
class Node:
    """One path of the final filesystem."""

    path: str
    kind: NodeKind
    mode: int  # permission bits with setuid/setgid/sticky
    uid: int
    gid: int
    size: int = 0
    target: str = ""  # symlink target
    inode: int = 0  # shared by hard links
    layer: int = 0
    elf: ElfFacts | None = None
    elf_error: str = ""  # ELF magic, but pyelftools could not parse it
    shebang: str = ""
    shell_calls: tuple[str, ...] = ()  # from .beam import tables
    embeds: tuple[str, ...] = ()  # known interpreter signatures in the bytes
    dump: str = ""  # local copy of an ELF file, when read_image was asked for one
    text: str = ""  # the content of a file the checks read whole (vm.args, beam-audit.json, dpkg records)
    md5: str = ""  # of an ELF file's bytes, to compare with the MD5 its Debian package recorded


@dataclass(frozen=True)
class Sighting:
    """A secret seen in a layer, whether or not it survives to the final image."""

    kind: SecretKind
    path: str
    layer: int
    deleted: bool = False


@dataclass(frozen=True)
class ImageContents:
    """The final filesystem of an image, its run settings and what its layers held."""

    user: str
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]  # the image's ENV, "NAME=value" each
    files: dict[str, Node]
    sightings: tuple[Sighting, ...]
    layer_count: int
    bytes_read: int

    def children(self, directory: str) -> list[Node]:
        prefix = directory.rstrip("/") + "/"
        return [n for p, n in self.files.items() if p.startswith(prefix) and p != prefix]


@dataclass
class _Entry:
    """A layer member, checked and summarised, not yet applied."""

    path: str
    node: Node | None  # None for whiteouts
    link: str = ""  # hard-link target path
    whiteout: str = ""  # "file" or "opaque"


@dataclass
class _LayerScan:
    entries: list[_Entry] = field(default_factory=list)
    sightings: list[Sighting] = field(default_factory=list)


def read_image(stream: IO[bytes], name: str, dump_dir: Path | None = None) -> ImageContents:
    """Read a ``docker save`` archive into its final filesystem.

    With ``dump_dir`` (a private directory the caller owns) every ELF file is
    also written there under a name the reader makes up (``<inode>.elf``, never
    a name from the archive), so other tools such as ``checksec`` can judge
    the very same bytes; ``Node.dump`` holds the copy's path.

    Raises :class:`ImageUnreadable` naming the archive member and the reason
    when the archive is corrupt or hostile.
    """
    counter = _Counter(dump_dir)
    blobs: dict[str, bytes] = {}
    scans: dict[str, _LayerScan] = {}
    aliases: dict[str, str] = {}
    counting = _CountingReader(stream)
    try:
        with TarSafe.open(fileobj=counting, mode="r|", bufsize=_BUFSIZE) as archive:
            for member in archive:
                _archive_member(archive, member, blobs, scans, aliases, counter)
    except HostileEntry as exc:
        raise ImageUnreadable(f"{name}: hostile image archive: {exc}",
                              hint="do not run this image; rebuild it from trusted sources") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageUnreadable(f"{name}: the image archive is corrupt: {exc}") from exc
    manifest = _manifest(blobs, name)
    config = _json_blob(blobs, aliases, manifest.get("Config", ""), name)
    layers = [_layer(scans, blobs, aliases, path, name, counter) for path in manifest.get("Layers", [])]
    files, sightings = _apply_layers(layers, name)
    run = config.get("config") or {}
    return ImageContents(
        user=str(run.get("User") or ""),
        entrypoint=tuple(run.get("Entrypoint") or ()),
        env=tuple(str(item) for item in run.get("Env") or ()),
        files=files,
        sightings=tuple(sightings),
        layer_count=len(layers),
        bytes_read=counting.count,
    )


# -- the outer archive ------------------------------------------------------

def _archive_member(archive: TarSafe, member: tarfile.TarInfo, blobs: dict[str, bytes],
                    scans: dict[str, _LayerScan], aliases: dict[str, str],
                    counter: _Counter) -> None:
    path = clean_name(member.name)
    if member.isdir():
        return
    if member.issym() or member.islnk():
        base = posixpath.dirname(path) if member.issym() else ""
        aliases[path] = inside_root(posixpath.join(base, member.linkname), member.name)
        return
    if not member.isfile():
        raise HostileEntry(f"{member.name}: unexpected {kind_word(member)} in the archive")
    data = archive.extractfile(member)
    assert data is not None
    # Layers are "<id>/layer.tar" (Docker < 25) or non-JSON blobs (OCI layout);
    # everything else is metadata, kept if small enough to be JSON we need.
    is_layer = path.endswith("/layer.tar") or (path.startswith("blobs/") and data.peek(1)[:1] != b"{")
    if not is_layer:
        if member.size <= _JSON_LIMIT:
            blobs[path] = data.read()
        return
    try:
        scans[path] = _scan_layer(data, counter)
    except HostileEntry as exc:
        raise HostileEntry(f"layer {path}: {exc}") from exc


def _manifest(blobs: dict[str, bytes], name: str) -> dict[str, Any]:
    try:
        manifests = json.loads(blobs["manifest.json"])
        return dict(manifests[0])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ImageUnreadable(f"{name}: the image archive has no usable manifest.json ({exc})") from exc


def _resolve(aliases: dict[str, str], path: str) -> str:
    seen = set()
    path = clean_name(path)
    while path in aliases and path not in seen:
        seen.add(path)
        path = aliases[path]
    return path


def _json_blob(blobs: dict[str, bytes], aliases: dict[str, str], path: str, name: str) -> dict[str, Any]:
    try:
        return dict(json.loads(blobs[_resolve(aliases, path)]))
    except (KeyError, TypeError, ValueError, HostileEntry) as exc:
        raise ImageUnreadable(f"{name}: image config {path!r} is missing or not JSON ({exc})") from exc


def _layer(scans: dict[str, _LayerScan], blobs: dict[str, bytes], aliases: dict[str, str],
           path: str, name: str, counter: _Counter) -> _LayerScan:
    try:
        real = _resolve(aliases, path)
        if real in scans:
            return scans[real]
        if real in blobs:  # a layer whose first bytes looked like JSON
            return _scan_layer(io.BufferedReader(io.BytesIO(blobs[real])), counter)
    except HostileEntry as exc:
        raise ImageUnreadable(f"{name}: hostile layer {path}: {exc}",
                              hint="do not run this image; rebuild it from trusted sources") from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageUnreadable(f"{name}: layer {path} is not a tar archive: {exc}") from exc
    raise ImageUnreadable(f"{name}: the manifest names layer {path!r}, which the archive does not hold")


# -- one layer --------------------------------------------------------------

def _scan_layer(data: IO[bytes], counter: _Counter) -> _LayerScan:
    scan = _LayerScan()
    with TarSafe.open(fileobj=data, mode="r|*", bufsize=_BUFSIZE) as layer:
        for member in layer:
            entry = _entry(layer, member, counter)
            if entry is not None:
                scan.entries.append(entry)
                scan.sightings.extend(_sightings(entry))
    return scan


def _entry(layer: TarSafe, member: tarfile.TarInfo, counter: _Counter) -> _Entry | None:
    path = "/" + clean_name(member.name)
    base = posixpath.basename(path)
    if base == _OPAQUE:
        return _Entry(posixpath.dirname(path), None, whiteout="opaque")
    if base.startswith(_WHITEOUT):
        return _Entry(posixpath.join(posixpath.dirname(path), base[len(_WHITEOUT):]), None, whiteout="file")
    node = functools.partial(Node, path=path, mode=member.mode & 0o7777, uid=member.uid, gid=member.gid)
    if member.isdir():
        return _Entry(path, node(kind=NodeKind.DIR))
    if member.issym():
        _check_symlink(path, member.linkname)
        return _Entry(path, node(kind=NodeKind.SYMLINK, target=member.linkname))
    if member.islnk():
        return _Entry(path, None, link="/" + clean_name(member.linkname))
    if member.isfifo():
        return _Entry(path, node(kind=NodeKind.FIFO))
    if member.isfile():
        data = layer.extractfile(member)
        assert isinstance(data, io.BufferedReader)  # tarfile's ExFileObject
        summary = node(kind=NodeKind.FILE, size=member.size, inode=counter.next())
        return _Entry(path, _read_content(summary, data, counter.dump_dir))
    raise HostileEntry(f"{member.name}: {kind_word(member)} not allowed in an image")


def _read_content(node: Node, data: io.BufferedReader, dump_dir: Path | None) -> Node:
    """Summarise the bytes of a regular file: ELF facts, #! line, BEAM imports, keys."""
    head = data.peek(4)[:4]
    if looks_like_elf(head):
        content = data.read(_ELF_LIMIT)
        embeds = ("busybox",) if b"BusyBox v" in content else ()
        node = replace(node, md5=hashlib.md5(content, usedforsecurity=False).hexdigest())
        if dump_dir is not None:
            copy = dump_dir / f"{node.inode}.elf"
            copy.write_bytes(content)
            node = replace(node, dump=str(copy))
        try:
            return replace(node, elf=inspect_elf(content), embeds=embeds)
        except NotAnElf as exc:
            error = "" if str(exc).startswith("ELF type") else str(exc)
            return replace(node, elf_error=error, embeds=embeds)
    if head.startswith(b"#!"):
        line = data.read(256).split(b"\n", 1)[0]
        return replace(node, shebang=line.decode("utf-8", errors="replace"))
    if posixpath.basename(node.path) in _READ_WHOLE or node.path.startswith(_READ_WHOLE_UNDER):
        first = data.read(_TEXT_LIMIT)
        # A file read for its text is still scanned for keys: a record must not hide one.
        key = _PRIVATE_KEY.search(first) is not None or _has_private_key(data, first[-4096:])
        return replace(node, text=first.decode("utf-8", errors="replace"), embeds=("private-key",) if key else ())
    if node.path.endswith(".beam"):
        try:
            return replace(node, shell_calls=shell_dependent_imports(data.read()))
        except (NotABeam, EOFError, OSError, IndexError, ValueError):
            return node  # an unreadable .beam is not something the VM would load either
    return replace(node, embeds=("private-key",)) if _has_private_key(data) else node


def _has_private_key(data: IO[bytes], tail: bytes = b"") -> bool:
    """Scan the rest of ``data`` in chunks; ``tail`` is what came just before (a key may span both)."""
    while chunk := data.read(_KEY_SCAN_LIMIT):
        window = tail + chunk
        if _PRIVATE_KEY.search(window):
            return True
        tail = window[-4096:]
    return False


def _sightings(entry: _Entry) -> list[Sighting]:
    node = entry.node
    if node is None or node.kind is NodeKind.DIR:
        return []
    found = []
    if posixpath.basename(node.path) in _COOKIE_NAMES or node.path.endswith("/releases/COOKIE"):
        found.append(Sighting(SecretKind.COOKIE, node.path, 0))
    if "private-key" in node.embeds:
        found.append(Sighting(SecretKind.PRIVATE_KEY, node.path, 0))
    return found


# -- links -------------------------------------------------------------------

def _check_symlink(path: str, target: str) -> None:
    """Absolute targets resolve inside the image root; relative ones must not climb out of it."""
    if not target:
        raise HostileEntry(f"{path}: empty symlink target")
    if not target.startswith("/"):
        inside_root(posixpath.join(posixpath.dirname(path).lstrip("/"), target), f"{path} -> {target}")


# -- applying layers ---------------------------------------------------------

def _apply_layers(layers: list[_LayerScan], name: str) -> tuple[dict[str, Node], list[Sighting]]:
    files: dict[str, Node] = {"/": Node(path="/", kind=NodeKind.DIR, mode=0o755, uid=0, gid=0)}
    sightings: list[Sighting] = []
    for index, layer in enumerate(layers):
        for entry in layer.entries:
            if entry.whiteout:
                _whiteout(files, entry)
        for entry in layer.entries:
            if not entry.whiteout:
                try:
                    _add(files, entry, index)
                except HostileEntry as exc:
                    raise ImageUnreadable(f"{name}: hostile layer {index}: {exc}",
                                          hint="do not run this image; rebuild it from trusted sources") from exc
        sightings.extend(replace(s, layer=index) for s in layer.sightings)
    final = [replace(s, deleted=not _survives(files, s)) for s in sightings]
    return files, final


def _survives(files: dict[str, Node], sighting: Sighting) -> bool:
    node = files.get(sighting.path)
    return node is not None and node.layer == sighting.layer


def _whiteout(files: dict[str, Node], entry: _Entry) -> None:
    if entry.whiteout == "file":
        files.pop(entry.path, None)
    _remove_below(files, entry.path)


def _remove_below(files: dict[str, Node], path: str) -> None:
    prefix = path.rstrip("/") + "/"
    for key in [k for k in files if k.startswith(prefix)]:
        del files[key]


def _add(files: dict[str, Node], entry: _Entry, layer: int) -> None:
    _ensure_parents(files, entry.path, layer)
    node = entry.node
    if entry.link:
        source = files.get(entry.link)
        if source is None or source.kind is NodeKind.DIR:
            raise HostileEntry(f"{entry.path}: hard link to {entry.link}, which is not a file in the image")
        node = replace(source, path=entry.path, layer=layer)
    assert node is not None
    existing = files.get(entry.path)
    if existing is not None and existing.kind is NodeKind.DIR and node.kind is not NodeKind.DIR:
        _remove_below(files, entry.path)
    files[entry.path] = replace(node, layer=layer)


def _ensure_parents(files: dict[str, Node], path: str, layer: int) -> None:
    parent = posixpath.dirname(path)
    missing = []
    while parent != "/":
        node = files.get(parent)
        if node is not None:
            if node.kind is NodeKind.SYMLINK:
                raise HostileEntry(f"{path}: placed beneath the symlink {parent} -> {node.target}")
            if node.kind is not NodeKind.DIR:
                raise HostileEntry(f"{path}: placed beneath the {node.kind} {parent}")
            break
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for directory in missing:
        files[directory] = Node(path=directory, kind=NodeKind.DIR, mode=0o755, uid=0, gid=0, layer=layer)


class _Counter:
    """Hands out inode numbers; carries the optional dump directory."""

    def __init__(self, dump_dir: Path | None) -> None:
        self._numbers = itertools.count(1)
        self.dump_dir = dump_dir

    def next(self) -> int:
        return next(self._numbers)


class _CountingReader:
    """A file wrapper that counts the bytes read (for the report and bench)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self.count += len(data)
        return data
