"""Debian's Sources indexes, read per suite: which upstream releases and revisions exist where.

``pin`` and ``pins --check`` need to know, for erlang and elixir-lang, every
version each suite lists (bookworm, its -updates and -security, trixie, …),
and which suite lists it: ``apt-cache showsrc`` merges the suites, so the
index files are read directly.  They come from a private apt state that
``apt-get update`` filled and verified against the archive's signature
(nothing on the host changes), or from a snapshot directory laid out like
an archive (``dists/SUITE/main/source/Sources``, pool files beside them),
which is how tests and air-gapped CI pin without reaching the archive.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path

from builder.debian import APT_HELPER, Mirror, OrigTarball, SourceArchive, upstream_of
from builder.errors import CommandFailed, SourceError
from builder.runner import run

# The suites ``pins --check`` reads, each with its -updates and -security suites.
CHECKED_SUITES = ("bookworm", "trixie", "sid")
_LIST_FILE = re.compile(r"_dists_(?P<suite>[^_]+)_main_source_Sources(\.\w+)?$")


@dataclass(frozen=True)
class Release:
    """One source package version as one suite lists it."""

    suite: str  # the suite whose index lists it, e.g. trixie-security
    tarball: OrigTarball

    @property
    def upstream(self) -> str:
        return upstream_of(self.tarball.debian_version)


@dataclass(frozen=True)
class SourceIndexes:
    """The Sources indexes of some suites, reduced to the packages asked for."""

    releases: tuple[Release, ...]
    origin: str  # where they were read: the mirror, or the snapshot directory

    @classmethod
    def from_archive(cls, mirror: Mirror, suites: Iterable[str], packages: Iterable[str]) -> SourceIndexes:
        """Fetch and verify (apt: signature and checksums) each suite's indexes, then read them."""
        wanted = tuple(packages)
        found: list[Release] = []
        with tempfile.TemporaryDirectory(prefix="build-image-index-") as work:
            for suite in suites:
                archive = SourceArchive(mirror, suite, Path(work) / suite)
                archive.update()
                for path in sorted((archive.workdir / "lists").iterdir()):
                    match = _LIST_FILE.search(path.name)
                    if match:
                        text = run([APT_HELPER, "cat-file", path]).stdout.decode("utf-8", errors="replace")
                        base = mirror.security if match["suite"].endswith("-security") else mirror.archive
                        found += parse_sources(text, match["suite"], base or mirror.archive, wanted)
        return cls(releases=tuple(found), origin=mirror.archive)

    @classmethod
    def from_snapshot(cls, directory: Path, packages: Iterable[str]) -> SourceIndexes:
        """Read ``directory/dists/*/main/source/Sources``; the pool files are fetched from ``directory``."""
        wanted = tuple(packages)
        files = sorted(directory.glob("dists/*/main/source/Sources"))
        if not files:
            raise SourceError(f"{directory} holds no dists/SUITE/main/source/Sources index",
                              hint="point --sources-index at a copy of an archive's layout, or leave it out")
        found = [release for path in files
                 for release in parse_sources(path.read_text(encoding="utf-8"), path.parents[2].name,
                                              directory.resolve().as_uri(), wanted)]
        return cls(releases=tuple(found), origin=str(directory))

    def of(self, package: str, suites: Iterable[str] | None = None) -> list[Release]:
        """``package``'s releases, newest Debian version first, in ``suites`` (a suite stands for its family)."""
        chosen = None if suites is None else {s for suite in suites for s in family(suite)}
        matching = [r for r in self.releases if r.tarball.package == package
                    and (chosen is None or r.suite in chosen)]
        return sorted(matching, key=cmp_to_key(_newest_first))


def _newest_first(a: Release, b: Release) -> int:
    return compare_versions(b.tarball.debian_version, a.tarball.debian_version)


def family(suite: str) -> tuple[str, ...]:
    """A suite and the suites apt reads with it (as :meth:`Mirror.lines` writes them)."""
    if suite in ("sid", "unstable", "experimental"):
        return (suite,)
    return (suite, f"{suite}-updates", f"{suite}-security")


def parse_sources(text: str, suite: str, archive: str, packages: Iterable[str]) -> list[Release]:
    """The stanzas of ``packages`` in one Sources index, each with its upstream tarball."""
    found = []
    for package in packages:
        for match in re.finditer(rf"^Package: {re.escape(package)}\n", text, re.M):
            end = text.find("\n\n", match.start())
            stanza = text[match.start():end if end >= 0 else len(text)] + "\n"
            tarball = _orig(package, stanza, archive)
            if tarball is not None:
                found.append(Release(suite=suite, tarball=tarball))
    return found


def _orig(package: str, stanza: str, archive: str) -> OrigTarball | None:
    version = re.search(r"^Version: (\S+)", stanza, re.M)
    directory = re.search(r"^Directory: (\S+)", stanza, re.M)
    checksums = re.search(r"^Checksums-Sha256:\n((?:[ \t].*\n)+)", stanza, re.M)
    if not (version and directory and checksums):
        return None
    for line in checksums.group(1).splitlines():
        sha256, _size, name = line.split()
        if ".orig.tar." in name and not name.endswith(".asc"):
            return OrigTarball(package, version.group(1), name, sha256, f"{archive}/{directory.group(1)}/{name}")
    return None


def download(tarball: OrigTarball, target: Path) -> None:
    """Download with apt's own check of the sha256 the index lists (as a build does)."""
    try:
        run([APT_HELPER, "-o", "APT::Sandbox::User=root", "download-file", tarball.url, target,
             f"SHA256:{tarball.sha256}"])
    except CommandFailed as exc:
        mismatch = "Hash Sum mismatch" in str(exc)
        raise SourceError(
            f"{tarball.url}: " + (f"checksum mismatch: the index lists sha256 {tarball.sha256}\n{exc}"
                                  if mismatch else f"could not download it\n{exc}"),
            hint="the download is not the file the signed index describes; nothing was pinned"
                 if mismatch else "check the mirror in the host's apt sources") from exc


# ---------------------------------------------------------------------------
# Debian version order (dpkg's, so "+deb12u4" sorts after "+deb12u1" and "~rc" before release)


def compare_versions(a: str, b: str) -> int:
    """Negative, zero or positive as Debian version ``a`` sorts before, with or after ``b``."""
    (epoch_a, upstream_a, revision_a), (epoch_b, upstream_b, revision_b) = _split(a), _split(b)
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _compare_part(upstream_a, upstream_b) or _compare_part(revision_a, revision_b)


def _split(version: str) -> tuple[int, str, str]:
    epoch, _, rest = version.rpartition(":") if ":" in version else ("0", "", version)
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "0")
    return int(epoch or 0), upstream, revision


def _order(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternating non-digit runs (by :func:`_order`) and numbers."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            left = _order(a[i]) if i < len(a) and not a[i].isdigit() else 0
            right = _order(b[j]) if j < len(b) and not b[j].isdigit() else 0
            if left != right:
                return left - right
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while i < len(a) and a[i].isdigit():
            i += 1
        while j < len(b) and b[j].isdigit():
            j += 1
        left_number, right_number = int(a[start_i:i] or 0), int(b[start_j:j] or 0)
        if left_number != right_number:
            return left_number - right_number
    return 0
