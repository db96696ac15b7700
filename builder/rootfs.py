"""An image's root filesystem as a directory tree, for ``RootDirectory=``.

``build-image systemd`` hands systemd the very files the image holds: the
``docker save`` stream (``Engine.save_image``) is spooled to a private
directory, and its layers are applied in manifest order, with overlay
whiteouts, into the target directory, keeping each entry's mode, owner and
modification time.

An image is not trusted because we built it: every entry is judged before it
is written.  An absolute or ``..`` name, a hard link to such a name, a
relative symlink that climbs out of the root, an entry placed beneath a
symlink (checked with ``lstat`` on the tree as it is, not on the archive's
word), a device node: any of them stops the export with
:class:`ImageUnreadable` and the member named.  Files are created with
``O_NOFOLLOW | O_EXCL``, so nothing is ever written through a link.

Then the mount points systemd mounts onto inside the root are made sure of
(empty directories; a distroless image has them, another may not): a root
installed read-only cannot have them made at start.  Measured on systemd 252
(tests/systemd): it mounts a tmpfs on ``run`` and makes ``run/credentials/<unit>``,
``run/systemd/incoming`` and the notify socket's mount point on it, so those
need not be in the tree; ``dev``, ``proc``, ``sys``, ``tmp`` and ``var/tmp``
(``PrivateTmp=``) must be.
"""

from __future__ import annotations

import json
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from builder.engine_protocol import Engine, as_file
from builder.errors import ImageUnreadable, UsageError
from builder.tarnames import HostileEntry, clean_name, inside_root, kind_word

_WHITEOUT: Final = ".wh."
_OPAQUE: Final = ".wh..wh..opq"
_JSON_LIMIT: Final = 16 << 20
#: Directories every root systemd enters needs, beyond the unit's own (mode 0755, root).
MOUNT_POINTS: Final = ("dev", "proc", "sys", "run", "tmp", "var/tmp")


@dataclass(frozen=True)
class ImageRun:
    """How the image runs: what the unit must say again (systemd reads no image config)."""

    user: str
    entrypoint: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    workdir: str


def export_rootfs(engine: Engine, image: str, target: Path, *, owners: bool = True) -> ImageRun:
    """Write ``image``'s final filesystem to ``target`` (which must not exist); return its run settings.

    ``owners`` False leaves every file to the caller (a test without root);
    the command always keeps the image's owners.
    """
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists", hint="remove it, give another directory, or --force")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".rootfs-spool-", dir=target.parent) as work:
        spool = Path(work)
        with as_file(engine.save_image(image)) as stream:
            names = _spool(stream, spool, image)
        manifest = _manifest(spool, names, image)
        config = _json(spool, names, str(manifest.get("Config", "")), image)
        target.mkdir(mode=0o755)
        times: dict[Path, int] = {}
        for layer in manifest.get("Layers") or []:
            _apply_layer(spool, names, str(layer), target, image, owners, times)
        _restore_directory_times(times)
    return _run_settings(config)


def add_mount_points(root: Path, paths: Iterable[str]) -> list[Path]:
    """Create each missing directory ``root/<path>`` (0755, never through a symlink); return the new ones."""
    made = []
    for relative in paths:
        current = root
        for part in Path(relative).parts:
            current = current / part
            if current.is_symlink():
                raise ImageUnreadable(f"{current} is a symlink: systemd would mount through it",
                                      hint="the image must not replace a mount point with a link")
            if not current.exists():
                current.mkdir(mode=0o755)
                made.append(current)
    return made


# -- the outer archive -------------------------------------------------------

def _spool(stream: IO[bytes], spool: Path, image: str) -> dict[str, Path]:
    """Each regular member of the save archive in a spool file named by its index; links resolved."""
    names: dict[str, Path] = {}
    links: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for index, member in enumerate(archive):
                name = clean_name(member.name)
                if member.issym() or member.islnk():
                    base = posixpath.dirname(name) if member.issym() else ""
                    links[name] = inside_root(posixpath.join(base, member.linkname), member.name)
                elif member.isfile():
                    copy = spool / f"{index}.blob"
                    source = archive.extractfile(member)
                    assert source is not None
                    with copy.open("wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                    names[name] = copy
    except HostileEntry as exc:
        raise _unreadable(image, str(exc)) from exc
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageUnreadable(f"{image}: the image archive is corrupt: {exc}") from exc
    for name in links:
        real = _follow(links, name)
        if real in names:
            names[name] = names[real]
    return names


def _follow(links: dict[str, str], name: str) -> str:
    seen = set()
    while name in links and name not in seen:
        seen.add(name)
        name = links[name]
    return name


def _manifest(spool: Path, names: dict[str, Path], image: str) -> dict[str, Any]:
    try:
        return dict(json.loads(names["manifest.json"].read_bytes())[0])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ImageUnreadable(f"{image}: the image archive has no usable manifest.json ({exc})") from exc


def _json(spool: Path, names: dict[str, Path], name: str, image: str) -> dict[str, Any]:
    try:
        path = names[clean_name(name)]
        if path.stat().st_size > _JSON_LIMIT:
            raise ValueError("too large")
        return dict(json.loads(path.read_bytes()))
    except (KeyError, TypeError, ValueError, HostileEntry) as exc:
        raise ImageUnreadable(f"{image}: image config {name!r} is missing or not JSON ({exc})") from exc


def _run_settings(config: dict[str, Any]) -> ImageRun:
    run = config.get("config") or {}
    env = tuple(tuple(item.split("=", 1)) for item in run.get("Env") or () if "=" in item)
    return ImageRun(
        user=str(run.get("User") or ""),
        entrypoint=tuple(run.get("Entrypoint") or ()),
        env=tuple((name, value) for name, value in env),
        workdir=str(run.get("WorkingDir") or "/"),
    )


# -- one layer -----------------------------------------------------------------

def _apply_layer(spool: Path, names: dict[str, Path], layer: str, root: Path, image: str, owners: bool,
                 times: dict[Path, int]) -> None:
    try:
        path = names[clean_name(layer)]
    except (KeyError, HostileEntry) as exc:
        raise ImageUnreadable(f"{image}: the manifest names layer {layer!r}, which the archive does not hold") from exc
    try:
        with path.open("rb") as data, tarfile.open(fileobj=data, mode="r|*") as archive:
            for member in archive:
                _apply(archive, member, root, owners)
                if member.isdir():
                    times[root / clean_name(member.name)] = int(member.mtime)
    except HostileEntry as exc:
        raise _unreadable(image, f"layer {layer}: {exc}") from exc
    except (tarfile.TarError, EOFError) as exc:
        raise ImageUnreadable(f"{image}: layer {layer} is not a tar archive: {exc}") from exc


def _apply(archive: tarfile.TarFile, member: tarfile.TarInfo, root: Path, owners: bool) -> None:
    name = clean_name(member.name)
    if not name:
        return  # the layer's own "./"
    directory, base = posixpath.split(name)
    parent = _parent(root, directory)
    if base == _OPAQUE:
        for child in list(parent.iterdir()):
            _remove(child)
        return
    if base.startswith(_WHITEOUT):
        _remove(parent / base[len(_WHITEOUT):])
        return
    path = parent / base
    if member.isdir():
        _directory(path)
    else:
        _remove(path)
        _create(archive, member, root, path, name)
    _settle(path, member, owners)


def _create(archive: tarfile.TarFile, member: tarfile.TarInfo, root: Path, path: Path, name: str) -> None:
    if member.isfile():
        source = archive.extractfile(member)
        assert source is not None
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    elif member.issym():
        if not member.linkname:
            raise HostileEntry(f"{name}: empty symlink target")
        if not member.linkname.startswith("/"):
            inside_root(posixpath.join(posixpath.dirname(name), member.linkname), f"{name} -> {member.linkname}")
        os.symlink(member.linkname, path)
    elif member.islnk():
        source_path = clean_name(member.linkname)
        origin = _parent(root, posixpath.dirname(source_path)) / posixpath.basename(source_path)
        if not origin.is_file() or origin.is_symlink():
            raise HostileEntry(f"{name}: hard link to {member.linkname}, which is not a file in the image")
        os.link(origin, path, follow_symlinks=False)
    elif member.isfifo():
        os.mkfifo(path, 0o600)
    else:
        raise HostileEntry(f"{member.name}: {kind_word(member)} not allowed in an image")


def _settle(path: Path, member: tarfile.TarInfo, owners: bool) -> None:
    """The member's owner, mode and time; a symlink keeps only its owner and time."""
    if owners:
        os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if not member.issym():
        os.chmod(path, member.mode & 0o7777)
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _restore_directory_times(times: dict[Path, int]) -> None:
    """Each directory's time from its last layer, deepest first (writing into one changes it)."""
    for path in sorted(times, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink():
            os.utime(path, (times[path], times[path]), follow_symlinks=False)


def _directory(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        _remove(path)
    if not path.exists():
        path.mkdir(mode=0o755)


def _parent(root: Path, directory: str) -> Path:
    """``root/directory``, made when missing, refusing any component that is not a real directory."""
    current = root
    for part in directory.split("/") if directory else []:
        current = current / part
        try:
            mode = current.lstat().st_mode
        except FileNotFoundError:
            current.mkdir(mode=0o755)
            continue
        if stat.S_ISLNK(mode):
            raise HostileEntry(f"{directory}: placed beneath the symlink {part}")
        if not stat.S_ISDIR(mode):
            raise HostileEntry(f"{directory}: placed beneath a file")
    return current


def _remove(path: Path) -> None:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _unreadable(image: str, reason: str) -> ImageUnreadable:
    return ImageUnreadable(f"{image}: hostile image archive: {reason}",
                           hint="do not run this image; rebuild it from trusted sources")
