"""Moving a pin and seeing what newer releases exist: ``build-image pin`` and ``pins``.

A pin moves the way a build checks it.  From a Debian suite, the version
must be listed in the suite's Sources index (which apt verified against the
archive's signature) and the tarball must match the sha256 listed there;
from a URL pattern, the tarball is downloaded and its sha256 computed and
shown.  Either way it lands in the same cache a build reads, passes the
same tarball safety check, and only then is build-image.yaml rewritten.

rebar3 is Debian's *binary* package (only its escript is used): it moves
through the suite's signed Packages index, exactly as a build fetches it
(:func:`builder.sources.fetch_rebar3`), and the .deb's sha256 is written.

Debian revisions: build-image compiles the upstream ``.orig`` tarball only.
Patches Debian adds in a revision (``+deb12u1`` → ``+deb12u4``, often
security fixes) are *not* applied; ``pins --check`` reports the newer
revisions so a release engineer sees them, and the README says so.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder import pinfile
from builder.config import VERSION, Config, SourceKind, SourcePin
from builder.debian import Mirror, OrigTarball
from builder.errors import SourceError, UsageError
from builder.records import parse_patch_sums, patch_sums
from builder.sourceindex import Release, SourceIndexes, download, family
from builder.sources import DEBIAN_PACKAGES, cache_dir, check_tarball, fetch_rebar3, sha256_of

PINNABLE = ("otp", "elixir", "hex", "rebar3")
# Pins that are not source tarballs (a .deb or an escript): no tarball check, as in a build.
NOT_TARBALLS = frozenset({"rebar3"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Target:
    """Where a pin should move: a version, and optionally a new source."""

    name: str
    version: str
    debian_suite: str | None = None
    url_pattern: str | None = None  # with {version} where the version goes


def current_pin(config: Config, name: str) -> SourcePin:
    """The pin ``name`` (otp, elixir, hex, rebar3) as the config has it."""
    if name == "otp":
        return config.otp.source
    if name == "elixir":
        return config.elixir
    if name == "rebar3":
        if config.rebar3 is None:
            raise UsageError(f"{config.file} pins no rebar3",
                             hint="add a rebar3: section first (README: Hex dependencies, rebar3)")
        return config.rebar3
    if config.hex is None:
        raise UsageError(f"{config.file} pins no Hex client",
                         hint="add a hex: section first (README: Hex dependencies)")
    return config.hex.client


def resolve(config: Config, target: Target, read_indexes: Callable[[Sequence[str]], SourceIndexes],
            binary_mirror: Callable[[], Mirror] | None = None) -> pinfile.NewPin:
    """Find, fetch and check the tarball ``target`` names; the pin to write.

    ``read_indexes`` gives the Sources indexes of the suites it is asked for
    (the archive's, or a snapshot's); it is called only for a Debian source.
    ``binary_mirror`` is where a Debian rebar3 pin's binary package comes from.
    """
    if not VERSION.fullmatch(target.version):
        raise UsageError(f"{target.version!r} is not a release version", hint="e.g. 27.3.4.3 or 1.18.4")
    pin = current_pin(config, target.name)
    if target.url_pattern is not None or (target.debian_suite is None and pin.kind is SourceKind.URL):
        pattern = target.url_pattern or url_pattern(pin)
        return _from_url(target, pattern)
    suite = target.debian_suite or pin.debian_suite
    if suite is None:
        raise UsageError(f"{target.name} is pinned to a local path: there is nowhere to look for {target.version}",
                         hint="give --url PATTERN (with {version}) or --debian SUITE")
    if target.name == "rebar3":
        if binary_mirror is None:
            raise UsageError("rebar3 is Debian's binary package: its signed Packages index is read from the "
                             "host's mirror, and --sources-index holds only Sources indexes",
                             hint="drop --sources-index (bases.mirror in build-image.yaml picks the mirror)")
        return _rebar3_from_debian(target, suite, binary_mirror())
    if target.name not in DEBIAN_PACKAGES:
        raise UsageError(f"Debian does not package {target.name} as a source build-image can use",
                         hint="give --url PATTERN (with {version})")
    return _from_debian(target, suite, read_indexes([suite]))


def url_pattern(pin: SourcePin) -> str:
    """The pin's URL with its version replaced by ``{version}`` (so a new version fills it in)."""
    assert pin.url is not None
    if pin.version not in pin.url:
        raise UsageError(f"{pin.url} does not contain the version {pin.version}: no pattern to fill in",
                         hint="give --url PATTERN with {version} where the version goes")
    return pin.url.replace(pin.version, "{version}")


def _from_debian(target: Target, suite: str, indexes: SourceIndexes) -> pinfile.NewPin:
    package = DEBIAN_PACKAGES[target.name]
    releases = indexes.of(package, [suite])
    chosen = next((r for r in releases if r.upstream == target.version), None)
    if chosen is None:
        listed = sorted({r.upstream for r in releases}, key=_version_key)
        others = sorted({f"{r.upstream} in {r.suite}" for r in indexes.of(package) if r.suite not in family(suite)})
        raise SourceError(
            f"Debian {suite} has no {package} {target.version}; it has: {', '.join(listed) or 'none'}",
            hint=f"other suites list {', '.join(others)}: move with --debian SUITE" if others
            else "pin a version the suite lists, or move with --debian SUITE")
    path = _fetch_orig(target.name, chosen.tarball)
    return pinfile.NewPin(name=target.name, version=target.version, sha256=sha256_of(path),
                          kind="debian", where=suite)


def _rebar3_from_debian(target: Target, suite: str, mirror: Mirror) -> pinfile.NewPin:
    """Debian's rebar3 .deb at ``target.version``, fetched and checked by apt as a build fetches it."""
    fetched = fetch_rebar3(SourcePin(version=target.version, sha256=None, debian_suite=suite), mirror)
    return pinfile.NewPin(name="rebar3", version=target.version, sha256=fetched.sha256, kind="debian", where=suite)


def _fetch_orig(name: str, tarball: OrigTarball) -> Path:
    """Into the cache a build reads (debian.fetch_orig_tarball's layout), sha256 checked by apt, then vetted."""
    store = cache_dir() / "sources"
    store.mkdir(parents=True, exist_ok=True)
    target = store / tarball.filename
    if not target.is_file() or sha256_of(target) != tarball.sha256:
        partial = store / (tarball.filename + ".partial")
        download(tarball, partial)
        partial.rename(target)
    check_tarball(target, name)
    return target


def _from_url(target: Target, pattern: str) -> pinfile.NewPin:
    if "{version}" not in pattern:
        raise UsageError(f"--url {pattern}: no {{version}} in it", hint="e.g. https://…/OTP-{version}/otp_src_{version}.tar.gz")
    url = pattern.replace("{version}", target.version)
    path = _download_url(url)
    if target.name not in NOT_TARBALLS:
        check_tarball(path, target.name)
    return pinfile.NewPin(name=target.name, version=target.version, sha256=sha256_of(path), kind="url", where=url)


def _download_url(url: str) -> Path:
    """Download ``url`` and keep it where :func:`builder.sources.fetch` looks for it (by its sha256)."""
    store = cache_dir() / "sources"
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=store, delete=False) as partial:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                shutil.copyfileobj(response, partial, _CHUNK)
        except (urllib.error.URLError, OSError) as exc:
            os.unlink(partial.name)
            raise SourceError(f"no tarball at {url}: {exc}",
                              hint="a URL source publishes no list of versions: check the release exists "
                                   "upstream, or move to a Debian suite with --debian SUITE") from exc
    target = store / sha256_of(Path(partial.name)) / Path(url.split("?", 1)[0]).name
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial.name, target)
    return target


# ---------------------------------------------------------------------------
# pins and pins --check


@dataclass(frozen=True)
class Newer:
    """A release newer than the pin, and how far it moves: patch, minor or major."""

    version: str
    change: str
    suites: tuple[str, ...]


@dataclass(frozen=True)
class Revision:
    """A Debian revision of the pinned upstream version, the suites listing it, and whether it is newer."""

    debian_version: str
    suites: tuple[str, ...]
    newer: bool


@dataclass(frozen=True)
class PinReport:
    name: str
    pin: SourcePin
    patches: str  # name=sha256,… (OTP only)
    newer: tuple[Newer, ...] = ()
    revisions: tuple[Revision, ...] = ()  # Debian revisions of the pinned upstream version, oldest first
    checked: str | None = None  # why newer releases were not looked up, when they were not

    def to_json(self) -> dict[str, object]:
        """The report for CI: the pin, its source, and what is newer (``pins --json``)."""
        pin = self.pin
        return {
            "name": self.name, "version": pin.version, "sha256": pin.sha256, "kind": pin.kind,
            "source": pin.url or pin.debian_suite or (str(pin.path) if pin.path else None),
            "patches": [{"name": name, "sha256": sha} for name, sha in parse_patch_sums(self.patches).items()],
            "newer": [dataclasses.asdict(n) for n in self.newer],
            "debian_revisions": [dataclasses.asdict(r) for r in self.revisions],
            "not_checked": self.checked,
        }


def pins(config: Config) -> list[PinReport]:
    """Every pin with its source and checksum (and the OTP patches)."""
    names = [n for n in PINNABLE if {"hex": config.hex, "rebar3": config.rebar3}.get(n, True) is not None]
    return [PinReport(name=n, pin=current_pin(config, n), patches=patch_sums(config.otp.patches) if n == "otp" else "")
            for n in names]


def check(config: Config, indexes: SourceIndexes) -> list[PinReport]:
    """Each pin with the newer releases and Debian revisions the indexes list."""
    reports = []
    for report in pins(config):
        package = DEBIAN_PACKAGES.get(report.name)
        if report.name in NOT_TARBALLS and report.pin.kind is SourceKind.DEBIAN:
            reports.append(dataclasses.replace(report, checked="Debian's binary package: --check reads the "
                                               "Sources indexes only; move it with build-image pin rebar3 VERSION"))
            continue
        if report.pin.kind is not SourceKind.DEBIAN or package is None:
            reports.append(dataclasses.replace(report, checked=f"a {report.pin.kind} source has no index to "
                                               "look in; move it with --debian SUITE to be told of new releases"))
            continue
        releases = indexes.of(package)
        reports.append(PinReport(name=report.name, pin=report.pin, patches=report.patches,
                                 newer=newer_releases(report.pin.version, releases),
                                 revisions=_revisions(report.pin, releases)))
    return reports


def newer_releases(current: str, releases: list[Release]) -> tuple[Newer, ...]:
    """Upstream versions above ``current``, newest first, each with the suites listing it."""
    by_version: dict[str, set[str]] = {}
    for release in releases:
        if VERSION.fullmatch(release.upstream) and _version_key(release.upstream) > _version_key(current):
            by_version.setdefault(release.upstream, set()).add(release.suite)
    return tuple(Newer(version, change_kind(current, version), tuple(sorted(suites)))
                 for version, suites in sorted(by_version.items(), key=lambda item: _version_key(item[0]),
                                               reverse=True))


def _revisions(pin: SourcePin, releases: list[Release]) -> tuple[Revision, ...]:
    """The pinned suite's Debian revisions of the pinned upstream version, oldest first.

    The suite's own index holds its release; a higher revision its -updates or
    -security suite lists is marked newer (a stable update, usually a security fix).
    """
    suite = pin.debian_suite or ""
    suites_of: dict[str, set[str]] = {}
    for release in releases:  # newest first
        if release.upstream == pin.version and release.suite in family(suite):
            suites_of.setdefault(release.tarball.debian_version, set()).add(release.suite)
    ordered = list(reversed(suites_of))
    released = max((i for i, version in enumerate(ordered) if suite in suites_of[version]), default=0)
    return tuple(Revision(version, tuple(sorted(suites_of[version])), newer=i > released)
                 for i, version in enumerate(ordered))


def change_kind(current: str, newer: str) -> str:
    """major (first number moved), minor (second) or patch (anything after)."""
    old, new = _version_key(current), _version_key(newer)
    if old[:1] != new[:1]:
        return "major"
    if old[:2] != new[:2]:
        return "minor"
    return "patch"


def gates(reports: list[PinReport], fail_on: str) -> list[Newer]:
    """The newer releases that should fail ``pins --check``: patch ones, and minor ones too if asked."""
    kinds = {"patch"} if fail_on == "patch" else {"patch", "minor"}
    return [n for r in reports for n in r.newer if n.change in kinds]


def render(reports: list[PinReport]) -> str:
    """The human-readable listing of ``pins`` / ``pins --check``."""
    lines = []
    for report in reports:
        pin = report.pin
        where = {"url": pin.url, "path": str(pin.path), "debian": f"debian {pin.debian_suite}"}[pin.kind]
        lines.append(f"{report.name:<7} {pin.version:<10} {where}")
        lines.append(f"        sha256 {pin.sha256 or '(not pinned: apt checks the index sum)'}")
        if report.name == "otp":
            lines.append("        patches " + (", ".join(report.patches.split(",")) if report.patches else "none"))
        if report.checked:
            lines.append(f"        newer releases: not checked ({report.checked})")
        for newer in report.newer:
            lines.append(f"        newer {newer.change:<5} {newer.version}  in {', '.join(newer.suites)}")
        lines += _revision_lines(report.revisions)
    return "\n".join(lines)


def _revision_lines(revisions: tuple[Revision, ...]) -> list[str]:
    return [f"        {'newer ' if r.newer else ''}Debian revision {r.debian_version} in {', '.join(r.suites)}"
            for r in revisions] + (["        (Debian's patches are not applied: build-image builds the upstream "
                                   ".orig tarball only)"] if revisions else [])


def _version_key(version: str) -> tuple[int, ...]:
    """27.3.4.1 → (27, 3, 4, 1, 1); an -rc sorts before its release."""
    numbers = re.match(r"[\d.]+", version)
    parts = [int(p) for p in (numbers.group(0) if numbers else "0").strip(".").split(".")]
    return (*parts, *[0] * (4 - len(parts)), 0 if "-rc" in version else 1)

