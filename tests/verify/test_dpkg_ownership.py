"""Built-in waivers for Debian's base libraries hold only for the file the recorded package installed.

Each image is a hand-written docker-save archive read in memory, with the
policy ``build-image verify`` uses without ``-c`` (the defaults and the
built-in waivers).  The library is an unhardened probe (no BIND_NOW), so
whenever its waiver does not apply the relro violation shows.  Every attack
puts that ELF at a waived path and forges, omits or contradicts the
ownership record; none of them may be waived.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from _support import Item, directory, file, hardlink, layer, save_archive
from builder.config import BUILT_IN_WAIVERS
from builder.verify import Report, VerifyPolicy, Waiver, check_contents
from builder.verify.imagefs import read_image

needs_gcc = pytest.mark.tools("gcc")  # the probe programs

POLICY = VerifyPolicy(waivers=BUILT_IN_WAIVERS)
LIBC = "lib/x86_64-linux-gnu/libc.so.6"
STATUS = "var/lib/dpkg/status.d"
KEY = (b"-----BEGIN PRIVATE KEY-----\n"
       b"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
       b"-----END PRIVATE KEY-----\n")


def record(package: str, field: str | None = None) -> Item:
    """A status.d control record as the runtime stage writes it (``Package`` may be made to lie)."""
    text = f"Package: {field or package}\nVersion: 2.36-9+deb12u14\nArchitecture: amd64\nSHA256: {'0' * 64}\n"
    return file(f"{STATUS}/{package}", text.encode())


def md5sums(package: str, *entries: tuple[str, bytes]) -> Item:
    """``<package>.md5sums``: the package's file list, as ``dpkg-deb -e`` gives it."""
    lines = "".join(f"{hashlib.md5(data).hexdigest()}  {path}\n" for path, data in entries)
    return file(f"{STATUS}/{package}.md5sums", lines.encode())


def dirs() -> list[Item]:
    return [directory(d) for d in ("lib", "lib/x86_64-linux-gnu", "usr", "usr/lib", "usr/lib/x86_64-linux-gnu",
                                   "var", "var/lib", "var/lib/dpkg", STATUS)]


def verify(*layers: list[Item]) -> Report:
    archive = save_archive([layer(items) for items in layers], "t:1")
    return check_contents("t", read_image(io.BytesIO(archive), "t"), POLICY)


def relro_at(report: Report, path: str) -> tuple[bool, bool]:
    """(violation, waived) for the relro property at ``path``."""
    return (any(v.path == path and v.check == "relro" for v in report.violations),
            any(w.finding.path == path and w.finding.check == "relro" for w in report.waived))


@pytest.fixture
def library(programs: dict[str, Path]) -> bytes:
    """An ELF without BIND_NOW: relro fails, which the Debian waivers cover."""
    return programs["partial-relro"].read_bytes()


@needs_gcc
def test_the_packages_own_file_is_waived_and_the_report_names_the_package(library: bytes) -> None:
    stdcpp = "usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30"
    report = verify([*dirs(), file(LIBC, library), file(stdcpp, library),
                     record("libc6"), md5sums("libc6", (LIBC, library), ("usr/share/doc/libc6/copyright", b"x")),
                     record("libstdc++6"), md5sums("libstdc++6", (stdcpp, library))])
    assert relro_at(report, "/" + LIBC) == (False, True)
    assert relro_at(report, "/" + stdcpp) == (False, True)
    waivers = [w["waiver"] for w in report.to_json()["waived"] if w["path"] == "/" + LIBC]
    assert {w["package"] for w in waivers} == {"libc6"}
    assert "Debian package libc6's" in report.render_text()


@needs_gcc
@pytest.mark.parametrize("case", [
    "no records at all",
    "a record but no file list",
    "a file list but no record",
    "the record names another package",
    "another package lists the path",
    "two packages list the path",
    "the file list does not name the path",
])
def test_a_violating_elf_at_a_waived_path_without_true_ownership_is_a_violation(library: bytes, case: str) -> None:
    listed = (LIBC, library)
    items = {
        "no records at all": [],
        "a record but no file list": [record("libc6")],
        "a file list but no record": [md5sums("libc6", listed)],
        "the record names another package": [record("libc6", field="evil"), md5sums("libc6", listed)],
        "another package lists the path": [record("libc6"), md5sums("libc6", ("lib/other.so", b"x")),
                                           record("evil"), md5sums("evil", listed)],
        "two packages list the path": [record("libc6"), md5sums("libc6", listed),
                                       record("evil"), md5sums("evil", listed)],
        "the file list does not name the path": [record("libc6"),
                                                 md5sums("libc6", ("lib/x86_64-linux-gnu/libm.so.6", library))],
    }[case]
    report = verify([*dirs(), file(LIBC, library), *items])
    assert relro_at(report, "/" + LIBC) == (True, False), case
    notes = [n.detail for n in report.notes if n.topic == "waiver not applied" and n.path == "/" + LIBC]
    assert len(notes) == 1 and "libc6" in notes[0], notes


@needs_gcc
def test_a_file_replaced_after_the_package_was_unpacked_is_not_the_packages(library: bytes,
                                                                            programs: dict[str, Path]) -> None:
    genuine = programs["hardened"].read_bytes()
    report = verify([*dirs(), file(LIBC, genuine), record("libc6"), md5sums("libc6", (LIBC, genuine))],
                    [file(LIBC, library)])  # a later layer swaps the bytes, the record stays true to the old ones
    assert relro_at(report, "/" + LIBC) == (True, False)
    assert any("replaced after install" in n.detail for n in report.notes if n.path == "/" + LIBC)


@needs_gcc
def test_a_hard_link_at_a_waived_path_is_judged_by_the_bytes_it_links_to(library: bytes,
                                                                         programs: dict[str, Path]) -> None:
    genuine = programs["hardened"].read_bytes()
    report = verify([*dirs(), file("lib/evil.so", library), hardlink(LIBC, "lib/evil.so"),
                     record("libc6"), md5sums("libc6", (LIBC, genuine))])
    assert relro_at(report, "/" + LIBC) == (True, False)


def test_a_record_read_for_ownership_is_still_scanned_for_private_keys() -> None:
    report = verify([*dirs(), file(f"{STATUS}/libc6", b"Package: libc6\n" + KEY)])
    assert [v.path for v in report.violations if v.check == "no-private-key"] == [f"/{STATUS}/libc6"]


def test_a_waiver_naming_a_package_never_applies_without_an_ownership_check() -> None:
    waiver = Waiver(path="/lib/*", properties=frozenset({"relro"}), reason="a package's library", package="libc6")
    policy = VerifyPolicy(waivers=(waiver,))
    assert policy.waiver_for("/lib/libc.so.6", "relro") is None
    assert policy.waiver_for("/lib/libc.so.6", "relro", lambda path, package: package == "libc6") is waiver
    path_only = VerifyPolicy(waivers=(Waiver(path="/lib/*", properties=frozenset({"relro"}), reason="reviewed"),))
    assert path_only.waiver_for("/lib/libc.so.6", "relro") is not None


def test_every_debian_base_waiver_names_its_package() -> None:
    debian = [w for w in BUILT_IN_WAIVERS if "Debian" in w.reason]
    assert debian and all(w.package for w in debian)
    assert {w.package for w in debian} == {"libc6", "libgcc-s1", "libstdc++6"}


def test_the_file_lists_beside_the_records_are_not_packages_in_the_sbom() -> None:
    from builder.sbom import _debian
    runtime = {f"{STATUS}/libc6": b"Package: libc6\nVersion: 2.36\nArchitecture: amd64\n",
               f"{STATUS}/libc6.md5sums": b"0" * 32 + b"  lib/x86_64-linux-gnu/libc.so.6\n"}
    assert [component.name for component in _debian(runtime, "bookworm")] == ["libc6"]
