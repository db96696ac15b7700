"""Pinned source tarballs: fetched once, checksum-verified, checked for hostility.

A tarball lands in the cache only after its sha256 matched the pin and its
members passed tarsafe's checks, so nothing is ever compiled from a
wrong or hostile source.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import tarsafe

from builder.config import SourceKind, SourcePin
from builder.debian import Mirror, fetch_deb, fetch_orig_tarball
from builder.errors import SourceError

DEBIAN_PACKAGES = {"otp": "erlang", "elixir": "elixir-lang"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedSource:
    """A verified tarball on disk, and where it came from (for labels and the SBOM)."""

    name: str  # "otp" or "elixir"
    version: str
    path: Path
    sha256: str
    origin: str


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/build-image`` (``~/.cache/build-image``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "build-image"


def fetch(name: str, pin: SourcePin, mirror: Mirror | None) -> FetchedSource:
    """Bring the tarball pinned by ``pin`` into the cache and verify it."""
    store = cache_dir() / "sources"
    store.mkdir(parents=True, exist_ok=True)
    if pin.kind is SourceKind.PATH:
        assert pin.path is not None
        path, origin = pin.path, str(pin.path)
    elif pin.kind is SourceKind.URL:
        assert pin.url is not None and pin.sha256 is not None
        path, origin = _download(pin.url, pin.sha256, store), pin.url
    else:
        assert pin.debian_suite is not None and mirror is not None
        path, tarball = fetch_orig_tarball(mirror, pin.debian_suite, DEBIAN_PACKAGES[name],
                                           pin.version, store)
        origin = f"debian:{pin.debian_suite}/{tarball.package}={tarball.debian_version}"
    actual = sha256_of(path)
    if pin.sha256 is not None and actual != pin.sha256:
        raise SourceError(
            f"{name} source {origin}: checksum mismatch\n  expected sha256 {pin.sha256}\n"
            f"  actual   sha256 {actual}",
            hint="if you changed the pin on purpose, put the actual sum in build-image.yaml;"
                 " otherwise the download is not the release you pinned",
        )
    check_tarball(path, name)
    return FetchedSource(name=name, version=pin.version, path=path, sha256=actual, origin=origin)


def fetch_rebar3(pin: SourcePin, mirror: Mirror | None) -> FetchedSource:
    """The rebar3 escript's pin: Debian's binary ``rebar3`` package, or a .deb/escript by url or path.

    Not a tarball, so no tarball check: the rebar3 stage takes only the
    escript out of a .deb (``dpkg-deb -x``), after checking its sha256 again.
    """
    if pin.kind is not SourceKind.DEBIAN:
        return _verified("rebar3", pin, *_local_or_downloaded(pin))
    assert pin.debian_suite is not None and mirror is not None
    store = cache_dir() / "sources"
    store.mkdir(parents=True, exist_ok=True)
    path, version = fetch_deb(mirror, pin.debian_suite, "rebar3", pin.version, store)
    return _verified("rebar3", pin, path, f"debian:{pin.debian_suite}/rebar3={version}")


def _local_or_downloaded(pin: SourcePin) -> tuple[Path, str]:
    if pin.path is not None:
        return pin.path, str(pin.path)
    assert pin.url is not None and pin.sha256 is not None
    store = cache_dir() / "sources"
    store.mkdir(parents=True, exist_ok=True)
    return _download(pin.url, pin.sha256, store), pin.url


def _verified(name: str, pin: SourcePin, path: Path, origin: str) -> FetchedSource:
    actual = sha256_of(path)
    if pin.sha256 is not None and actual != pin.sha256:
        raise SourceError(
            f"{name} {origin}: checksum mismatch\n  expected sha256 {pin.sha256}\n  actual   sha256 {actual}",
            hint="if you changed the pin on purpose, put the actual sum in build-image.yaml;"
                 " otherwise the download is not the release you pinned",
        )
    return FetchedSource(name=name, version=pin.version, path=path, sha256=actual, origin=origin)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, sha256: str, store: Path) -> Path:
    target = store / sha256 / Path(url.split("?", 1)[0]).name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, partial, _CHUNK)
        except (urllib.error.URLError, OSError) as exc:
            os.unlink(partial.name)
            raise SourceError(f"could not download {url}: {exc}",
                              hint="check the URL, or use a `path:` or `debian:` source") from exc
    os.replace(partial.name, target)
    return target


def check_tarball(path: Path, name: str) -> None:
    """Refuse a tarball with absolute names, ``..``, escaping links or device nodes.

    Each member goes through the standard library's ``data`` extraction
    filter (links are resolved from the member's own directory, which
    tarsafe's symlink check does not do), without extracting anything.  The
    verdict is remembered beside the cache, keyed by the tarball's checksum.
    """
    marker = cache_dir() / "checked" / f"{sha256_of(path)}.ok"
    if marker.is_file():
        return
    with tempfile.TemporaryDirectory(prefix="build-image-check-") as root:
        try:
            with tarsafe.open(path, mode="r|*") as archive:
                for member in archive:
                    if member.name.startswith("/"):
                        raise tarfile.AbsolutePathError(member)
                    tarfile.data_filter(member, root)
        except (tarfile.FilterError, tarfile.TarError, OSError, EOFError) as exc:
            raise SourceError(f"{name} source {path} is not a safe tarball: {exc}",
                              hint="use the upstream release tarball; nothing was built from this one") from exc
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
