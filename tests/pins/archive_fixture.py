"""A small Debian archive written by the test: Sources indexes per suite and tiny orig tarballs.

The pins tests must not depend on what the archive holds on the day, so
they read this instead (``--sources-index DIR``).  Its versions mirror the
archive as the issue found it: erlang 25.2.3 / 27.3.4.1 / 29.1.2 and
elixir-lang 1.14.0 / 1.18.3 / 1.20.4 in bookworm / trixie / sid, with
security revisions of the stable ones.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from builder.debian import upstream_of


@dataclass(frozen=True)
class Listed:
    suite: str
    package: str
    debian_version: str
    corrupt: bool = False  # the pool file differs from the sha256 the index lists


TODAY = (
    Listed("bookworm", "erlang", "1:25.2.3+dfsg-1"),
    Listed("bookworm-security", "erlang", "1:25.2.3+dfsg-1+deb12u4"),
    Listed("trixie", "erlang", "1:27.3.4.1+dfsg-1"),
    Listed("trixie-security", "erlang", "1:27.3.4.1+dfsg-1+deb13u4"),
    Listed("sid", "erlang", "1:29.1.2+dfsg-1"),
    Listed("bookworm", "elixir-lang", "1.14.0.dfsg-2"),
    Listed("trixie", "elixir-lang", "1.18.3.dfsg-1"),
    Listed("sid", "elixir-lang", "1.20.4.dfsg-1"),
)


def tarball(package: str, upstream: str) -> bytes:
    """A tiny, safe source tarball whose bytes depend on the version."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
        data = f"{package} {upstream}\n".encode()
        info = tarfile.TarInfo(f"{package}-{upstream}/VERSION")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def orig_name(package: str, debian_version: str) -> str:
    upstream_part = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return f"{package}_{upstream_part}.orig.tar.xz"


def write_archive(root: Path, listed: tuple[Listed, ...] = TODAY) -> Path:
    """``root/dists/SUITE/main/source/Sources`` and ``root/pool/…``; returns ``root``."""
    stanzas: dict[str, list[str]] = {}
    for entry in listed:
        directory = f"pool/main/{entry.package[0]}/{entry.package}"
        name = orig_name(entry.package, entry.debian_version)
        data = tarball(entry.package, upstream_of(entry.debian_version))
        (root / directory).mkdir(parents=True, exist_ok=True)
        (root / directory / name).write_bytes(data + (b"tampered" if entry.corrupt else b""))
        stanzas.setdefault(entry.suite, []).append(
            f"Package: {entry.package}\nBinary: {entry.package}\nVersion: {entry.debian_version}\n"
            f"Directory: {directory}\nChecksums-Sha256:\n"
            f" {hashlib.sha256(b'dsc').hexdigest()} 3 {entry.package}_x.dsc\n"
            f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}\n")
    for suite, entries in stanzas.items():
        index = root / "dists" / suite / "main" / "source" / "Sources"
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text("Package: other\nVersion: 1.0-1\n\n" + "\n".join(entries), encoding="utf-8")
    return root


def sha256_of_listed(package: str, debian_version: str) -> str:
    return hashlib.sha256(tarball(package, upstream_of(debian_version))).hexdigest()
