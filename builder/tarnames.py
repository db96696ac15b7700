"""Names and links inside an image's layer archives, judged in one place.

Both readers of an image's layers, the verifier (:mod:`builder.verify.imagefs`)
and the systemd root-filesystem export (:mod:`builder.rootfs`), must refuse
the same hostile entries: an absolute name, a ``..`` part, a NUL, a link
that climbs out of the root, a device.  They share these rules so an entry
one of them refuses the other cannot accept.
"""

from __future__ import annotations

import tarfile


class HostileEntry(Exception):
    """An entry that would escape the root or is not allowed in an image."""


def clean_name(name: str) -> str:
    """The archive name as a clean relative path, or :class:`HostileEntry`."""
    if name.startswith("/"):
        raise HostileEntry(f"{name!r}: absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise HostileEntry(f"{name!r}: '..' in the path")
    if any("\0" in part for part in parts):
        raise HostileEntry(f"{name!r}: NUL in the path")
    return "/".join(parts)


def inside_root(joined: str, name: str) -> str:
    """Normalise ``joined`` (relative to the root) or refuse if it climbs out."""
    parts: list[str] = []
    for part in joined.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise HostileEntry(f"{name!r}: link escapes the root")
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def kind_word(member: tarfile.TarInfo) -> str:
    """What a member that is no file, directory or link is, for a refusal."""
    if member.ischr():
        return "character device"
    if member.isblk():
        return "block device"
    return f"entry of type {member.type!r}"
