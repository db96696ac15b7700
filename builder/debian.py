"""Debian's archive: the host's mirror, signed source tarballs, bootstrapped roots.

No mirror host name is written anywhere in this project: the mirror comes
from the host's apt sources (or the config), and every download is checked
against apt's signed indexes.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.errors import SourceError
from builder.runner import run

APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCE_PARTS = Path("/etc/apt/sources.list.d")
ARCHIVE_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
APT_HELPER = "/usr/lib/apt/apt-helper"


@dataclass(frozen=True)
class Mirror:
    """A Debian archive and, when the host has one, its security archive."""

    archive: str
    security: str | None = None

    def lines(self, suite: str, kind: str = "deb") -> tuple[str, ...]:
        """One-line apt sources for ``suite``: main, updates and security."""
        lines = [f"{kind} {self.archive} {suite} main"]
        if suite not in ("sid", "unstable", "experimental"):
            lines.append(f"{kind} {self.archive} {suite}-updates main")
            if self.security:
                lines.append(f"{kind} {self.security} {suite}-security main")
        return tuple(lines)


def host_mirror(override: str | None = None) -> Mirror:
    """The Debian mirror this host's apt uses (or ``override``)."""
    entries = list(_host_entries())
    archive = override or next((uri for uri, suites in entries
                                if not any(s.endswith("-security") for s in suites)), None)
    if archive is None:
        raise SourceError(
            "no Debian mirror found in the host's apt sources",
            hint="set bases.mirror in build-image.yaml, or add a Debian archive to /etc/apt/sources.list",
        )
    security = next((uri for uri, suites in entries if any(s.endswith("-security") for s in suites)), None)
    return Mirror(archive=archive.rstrip("/"), security=security.rstrip("/") if security else None)


def _host_entries() -> Iterator[tuple[str, tuple[str, ...]]]:
    """(URI, suites) of every enabled binary Debian source on the host."""
    files = [APT_SOURCES, *sorted(APT_SOURCE_PARTS.glob("*.list")), *sorted(APT_SOURCE_PARTS.glob("*.sources"))]
    for file in files:
        if not file.is_file():
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        parsed = _deb822_entries(text) if file.suffix == ".sources" else _one_line_entries(text)
        for uri, suites in parsed:
            if _is_debian_archive(uri):
                yield uri, suites


def _is_debian_archive(uri: str) -> bool:
    return re.search(r"/debian(-security)?/?$", uri) is not None


def _one_line_entries(text: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            yield words[1], (words[2],)


def _deb822_entries(text: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, tuple(fields.get("suites", "").split())


# ---------------------------------------------------------------------------
# Source packages


@dataclass(frozen=True)
class OrigTarball:
    """An upstream tarball as listed in a signed Debian Sources index."""

    package: str
    debian_version: str
    filename: str
    sha256: str
    url: str


class SourceArchive:
    """A private apt state (nothing on the host changes) listing one suite's sources."""

    def __init__(self, mirror: Mirror, suite: str, workdir: Path, kind: str = "deb-src") -> None:
        self.mirror = mirror
        self.suite = suite
        self.workdir = workdir
        (workdir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (workdir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        (workdir / "status").touch()
        keyring = f"[signed-by={ARCHIVE_KEYRING}] " if ARCHIVE_KEYRING.is_file() else ""
        lines = [line.replace(f"{kind} ", f"{kind} {keyring}", 1)
                 for line in mirror.lines(suite, kind=kind)]
        (workdir / "sources.list").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _apt_options(self) -> list[str]:
        options = {
            "Dir::Etc::SourceList": self.workdir / "sources.list",
            "Dir::Etc::SourceParts": "/dev/null",
            "Dir::State::Lists": self.workdir / "lists",
            "Dir::State::status": self.workdir / "status",
            "Dir::Cache": self.workdir / "cache",
            "APT::Sandbox::User": "root",
        }
        return [word for key, value in options.items() for word in ("-o", f"{key}={value}")]

    def update(self) -> None:
        """Fetch and verify (signature and checksums) the suite's Sources indexes."""
        run(["apt-get", *self._apt_options(), "-q", "update"])

    def orig_tarball(self, package: str, upstream_version: str) -> OrigTarball:
        """The upstream tarball of ``package`` at ``upstream_version`` in this suite."""
        shown = run(["apt-cache", *self._apt_options(), "showsrc", package], check=False)
        stanzas = [s for s in re.split(r"\n\n+", shown.stdout.decode(errors="replace")) if s.strip()]
        versions = []
        for stanza in stanzas:
            version = _field(stanza, "Version")
            versions.append(version)
            if version and upstream_of(version) == upstream_version:
                return self._orig_of(package, version, stanza)
        raise SourceError(
            f"Debian {self.suite} has no source package {package} {upstream_version}"
            f" (it has: {', '.join(sorted(set(v for v in versions if v))) or 'none'})",
            hint="pin a version the suite carries, choose another suite, or use a url/path source",
        )

    def _orig_of(self, package: str, version: str, stanza: str) -> OrigTarball:
        directory = _field(stanza, "Directory")
        checksums = re.search(r"^Checksums-Sha256:\n((?: .*\n?)+)", stanza, re.M)
        for line in (checksums.group(1).splitlines() if checksums else []):
            sha256, _size, name = line.split()
            if ".orig.tar." in name and not name.endswith(".asc"):
                return OrigTarball(package, version, name, sha256,
                                   f"{self.mirror.archive}/{directory}/{name}")
        raise SourceError(f"Debian {self.suite} lists {package} {version} without an upstream tarball")

    def download(self, tarball: OrigTarball, target: Path) -> None:
        """Download with apt's own checksum check against the signed index."""
        run([APT_HELPER, *self._apt_options(), "download-file", tarball.url, target,
             f"SHA256:{tarball.sha256}"])


    def binary_package(self, package: str, upstream_version: str, target_dir: Path) -> tuple[Path, str]:
        """Download binary ``package`` at ``upstream_version`` (needs ``kind="deb"``): the .deb and its version.

        ``apt-get download`` checks the file against the signed Packages index.
        """
        shown = run(["apt-cache", *self._apt_options(), "show", package], check=False)
        versions = [_field(s, "Version") for s in re.split(r"\n\n+", shown.stdout.decode(errors="replace"))
                    if s.strip()]
        version = next((v for v in versions if v and upstream_of(v) == upstream_version), None)
        if version is None:
            raise SourceError(
                f"Debian {self.suite} has no binary package {package} {upstream_version}"
                f" (it has: {', '.join(sorted(set(v for v in versions if v))) or 'none'})",
                hint="pin a version the suite carries, choose another suite, or use a url/path source",
            )
        with tempfile.TemporaryDirectory(prefix="build-image-deb-", dir=target_dir) as partial:
            run(["apt-get", *self._apt_options(), "-q", "download", f"{package}={version}"], cwd=Path(partial))
            (downloaded,) = Path(partial).glob("*.deb")
            target = target_dir / downloaded.name
            downloaded.replace(target)
        return target, version


def upstream_of(debian_version: str) -> str:
    """``1:27.3.4.1+dfsg-1+deb13u4`` → ``27.3.4.1``; ``1.18.3.dfsg-1`` → ``1.18.3``."""
    version = debian_version.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.sub(r"[+.~](dfsg|ds)\d*$", "", version)


def _field(stanza: str, name: str) -> str:
    found = re.search(rf"^{name}: (.*)$", stanza, re.M)
    return found.group(1).strip() if found else ""


def fetch_orig_tarball(mirror: Mirror, suite: str, package: str, upstream_version: str,
                       target_dir: Path) -> tuple[Path, OrigTarball]:
    """Fetch the signed upstream tarball of ``package`` into ``target_dir``."""
    with tempfile.TemporaryDirectory(prefix="build-image-apt-") as work:
        archive = SourceArchive(mirror, suite, Path(work))
        archive.update()
        tarball = archive.orig_tarball(package, upstream_version)
        target = target_dir / tarball.filename
        if not target.is_file():
            partial = target_dir / (tarball.filename + ".partial")
            archive.download(tarball, partial)
            partial.rename(target)
        return target, tarball


def fetch_deb(mirror: Mirror, suite: str, package: str, upstream_version: str,
              target_dir: Path) -> tuple[Path, str]:
    """Fetch the binary ``package`` (a .deb, checked against the signed index) into ``target_dir``."""
    with tempfile.TemporaryDirectory(prefix="build-image-apt-") as work:
        archive = SourceArchive(mirror, suite, Path(work), kind="deb")
        archive.update()
        return archive.binary_package(package, upstream_version, target_dir)


# ---------------------------------------------------------------------------
# Bootstrapped root filesystems


def bootstrap_rootfs(mirror: Mirror, suite: str, packages: Sequence[str], out: Path,
                     source_date_epoch: int, keep_apt_lists: bool = True) -> None:
    """``mmdebstrap`` a root filesystem tarball with ``packages`` installed.

    apt's package lists are kept by default so later stages can ``apt-get
    download`` the run-time packages at exactly the versions this bootstrap saw.
    """
    include = [f"--include={','.join(sorted(packages))}"] if packages else []
    keep = ["--skip=cleanup/apt/lists"] if keep_apt_lists else []
    run(
        ["mmdebstrap", "--variant=apt", "--mode=root", "--format=tar", *include, *keep,
         "--aptopt=Acquire::Retries \"3\"",
         suite, out, *mirror.lines(suite)],
        env=_env_with(SOURCE_DATE_EPOCH=str(source_date_epoch)),
    )


def _env_with(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
