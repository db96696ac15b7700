"""Pinned sources: checksums and hostile tarballs stop everything before a build."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from builder import sources
from builder.config import SourcePin
from builder.errors import SourceError


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def tarball(path: Path, members: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info in members:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = 1 if kind == tarfile.REGTYPE else 0
    return info


def test_path_source_with_matching_checksum(tmp_path: Path) -> None:
    path = tarball(tmp_path / "otp.tar.gz", [member("otp/README")])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    fetched = sources.fetch("otp", SourcePin(version="27.0", sha256=digest, path=path), None)
    assert fetched.sha256 == digest and fetched.path == path and fetched.origin == str(path)


def test_checksum_mismatch_names_both_sums(tmp_path: Path) -> None:
    path = tarball(tmp_path / "otp.tar.gz", [member("otp/README")])
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SourceError) as caught:
        sources.fetch("otp", SourcePin(version="27.0", sha256="f" * 64, path=path), None)
    assert "f" * 64 in str(caught.value) and actual in str(caught.value)


@pytest.mark.parametrize("bad", [
    member("../escape"),
    member("/etc/passwd"),
    member("otp/link", tarfile.SYMTYPE, "../../../etc"),
    member("otp/hard", tarfile.LNKTYPE, "../../outside"),
    member("otp/dev", tarfile.CHRTYPE),
])
def test_hostile_tarballs_are_refused(tmp_path: Path, bad: tarfile.TarInfo) -> None:
    path = tarball(tmp_path / "evil.tar.gz", [member("otp/README"), bad])
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(SourceError, match="not a safe tarball"):
        sources.fetch("otp", SourcePin(version="27.0", sha256=digest, path=path), None)
    assert not (tmp_path.parent / "escape").exists()


def test_download_failure_is_a_source_error(tmp_path: Path) -> None:
    pin = SourcePin(version="27.0", sha256="a" * 64, url="http://127.0.0.1:9/otp.tar.gz")
    with pytest.raises(SourceError, match="could not download"):
        sources.fetch("otp", pin, None)
