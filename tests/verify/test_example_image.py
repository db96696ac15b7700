"""The example app image (lead's ``example_image`` fixture) verifies clean, and our verdicts
agree with checksec and hardening-check on its real binaries, extracted from the image."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

from _support import checksec_verdicts, disagreements, hardening_check_verdicts, our_verdicts
from builder.config import BUILT_IN_WAIVERS
from builder.verify import VerifyPolicy, read_from_engine, verify_image
from builder.verify.imagefs import ImageContents

pytestmark = [pytest.mark.docker, pytest.mark.tools("checksec", "hardening-check")]

# The binaries the issue names, as globs on the image path (one match each).
BINARIES = {
    "beam.smp": "/app/erts-*/bin/beam.smp",
    "erlexec": "/app/erts-*/bin/erlexec",
    "epmd": "/app/erts-*/bin/epmd",
    "crypto NIF": "/app/lib/crypto-*/priv/lib/crypto.so",
    "launcher": "/app/bin/server",
}


def test_the_example_image_verifies_with_zero_violations(engine, example_image: str, example_config) -> None:  # type: ignore[no-untyped-def]
    report = verify_image(engine, example_image, example_config.verify)
    assert report.ok, report.render_text()
    assert report.to_json()["summary"]["violations"] == 0
    paths = {row.path for row in report.elves}
    for glob in BINARIES.values():
        assert fnmatch.filter(paths, glob), f"no ELF file matching {glob} was checked"


def test_without_a_config_the_debian_libraries_are_waived_only_as_their_packages_files(
        engine, example_image: str) -> None:  # type: ignore[no-untyped-def]
    """What `build-image verify IMAGE` (no -c) does: each base library is its recorded package's file."""
    report = verify_image(engine, example_image, VerifyPolicy(waivers=BUILT_IN_WAIVERS))
    assert report.ok, report.render_text()
    packages = {w.finding.path: w.waiver.package for w in report.waived if w.waiver.package}
    assert packages.get("/lib/x86_64-linux-gnu/libc.so.6") == "libc6"
    assert packages.get("/lib/x86_64-linux-gnu/libgcc_s.so.1") == "libgcc-s1"
    assert any(p.startswith("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.") and k == "libstdc++6"
               for p, k in packages.items())
    assert not [n for n in report.notes if n.topic == "waiver not applied"]


@pytest.fixture(scope="module")
def example_contents(engine, example_image: str, tmp_path_factory: pytest.TempPathFactory) -> ImageContents:  # type: ignore[no-untyped-def]
    """The example image read once, its ELF files copied out for the other tools."""
    return read_from_engine(engine, example_image, dump_dir=tmp_path_factory.mktemp("example-elves"))


@pytest.mark.parametrize("binary", sorted(BINARIES))
def test_verdicts_agree_with_checksec_and_hardening_check(example_contents: ImageContents, example_image: str,
                                                         binary: str) -> None:
    contents = example_contents
    matches = [n for p, n in contents.files.items() if fnmatch.fnmatchcase(p, BINARIES[binary]) and n.elf]
    assert len(matches) == 1, f"{BINARIES[binary]} matched {[n.path for n in matches]} in {example_image}"
    node = matches[0]
    ours = our_verdicts(node.elf)
    copy = Path(node.dump)
    for tool, theirs in (("checksec", checksec_verdicts(copy)), ("hardening-check", hardening_check_verdicts(copy))):
        assert not disagreements(ours, theirs), f"{tool} disagrees on {node.path}: {disagreements(ours, theirs)}"
