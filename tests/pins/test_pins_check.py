"""``build-image pins [--check]``: the pins, newer releases marked patch/minor/major, and the exit codes CI gates on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from archive_fixture import TODAY, Listed, sha256_of_listed, write_archive
from builder.cli import main
from builder.errors import NewerReleaseAvailable
from builder.pins import change_kind
from builder.sourceindex import compare_versions

TRIXIE = """\
otp:
  version: "27.3.4.1"
  debian: trixie
  patches: [fix-banner.patch]
elixir:
  version: "1.18.3"
  debian: trixie
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mix.exs").write_text("defmodule Hello.MixProject do\nend\n")
    (tmp_path / "fix-banner.patch").write_text("--- a/x\n+++ b/x\n")
    config = tmp_path / "build-image.yaml"
    config.write_text(TRIXIE)
    return config


def pins(config: Path, archive: Path, *words: str) -> int:
    return main(["pins", "-c", str(config), "--sources-index", str(archive), *words])


def test_pins_lists_sources_checksums_and_patches(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    assert main(["pins", "-c", str(project)]) == 0
    out = capsys.readouterr().out
    assert "otp     27.3.4.1   debian trixie" in out and "elixir  1.18.3     debian trixie" in out
    patch_sum = hashlib.sha256(b"--- a/x\n+++ b/x\n").hexdigest()
    assert f"patches fix-banner.patch={patch_sum}" in out


def test_today_a_major_and_a_minor_are_newer_and_only_minor_gating_fails(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write_archive(tmp_path / "archive")
    assert pins(project, archive, "--check") == 0
    out = capsys.readouterr().out
    assert "newer major 29.1.2  in sid" in out and "newer minor 1.20.4  in sid" in out
    assert "25.2.3" not in out  # older releases are not offered
    # trixie released +dfsg-1; its security suite has +deb13u4, whose patches are not applied
    assert "  Debian revision 1:27.3.4.1+dfsg-1 in trixie" in out
    assert "newer Debian revision 1:27.3.4.1+dfsg-1+deb13u4 in trixie-security" in out
    assert "Debian's patches are not applied" in out

    assert pins(project, archive, "--check", "--fail-on", "minor") == NewerReleaseAvailable.exit_code
    assert "hint: move the pin: build-image pin elixir 1.20.4" in capsys.readouterr().err


def test_pins_json_gives_ci_the_same_facts(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert pins(project, write_archive(tmp_path / "archive"), "--check", "--json") == 0
    otp, elixir = json.loads(capsys.readouterr().out)
    assert (otp["name"], otp["version"], otp["kind"], otp["source"]) == ("otp", "27.3.4.1", "debian", "trixie")
    assert otp["patches"][0]["name"] == "fix-banner.patch"
    assert otp["newer"] == [{"version": "29.1.2", "change": "major", "suites": ["sid"]}]
    assert [r["newer"] for r in otp["debian_revisions"]] == [False, True]
    assert elixir["newer"][0]["change"] == "minor" and elixir["not_checked"] is None


def test_a_newer_patch_release_exits_10(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write_archive(tmp_path / "archive", (*TODAY, Listed("trixie-security", "erlang", "1:27.3.4.3+dfsg-1")))
    assert pins(project, archive, "--check") == 10
    captured = capsys.readouterr()
    assert "newer patch 27.3.4.3  in trixie-security" in captured.out
    assert "otp 27.3.4.3 (patch)" in captured.err and "build-image pin otp 27.3.4.3" in captured.err


def test_a_url_pin_says_it_was_not_checked(project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project.write_text(TRIXIE.replace("  debian: trixie\n  patches", "  url: https://example.invalid/otp_src_27.3.4.1"
                                      f".tar.gz\n  sha256: {sha256_of_listed('erlang', '1:27.3.4.1')}\n  patches"))
    assert pins(project, write_archive(tmp_path / "archive"), "--check") == 0
    assert "newer releases: not checked (a url source has no index" in capsys.readouterr().out


@pytest.mark.parametrize(("current", "newer", "kind"), [
    ("27.3.4.1", "27.3.4.3", "patch"), ("27.3.4.1", "27.3.5", "patch"), ("27.3.4.1", "27.4", "minor"),
    ("27.3.4.1", "29.1.2", "major"), ("1.18.3", "1.18.4", "patch"), ("1.18.3", "1.20.4", "minor"),
])
def test_change_kinds(current: str, newer: str, kind: str) -> None:
    assert change_kind(current, newer) == kind


@pytest.mark.tools("dpkg")
@pytest.mark.parametrize(("a", "b"), [
    ("1:25.2.3+dfsg-1+deb12u1", "1:25.2.3+dfsg-1+deb12u4"), ("1:27.3.4.1+dfsg-1", "1:27.3.4.1+dfsg-1+deb13u4"),
    ("1.18.3.dfsg-1", "1.18.3.dfsg-1+b1"), ("1.0~rc1-1", "1.0-1"), ("25.2.3-1", "1:0.1-1"), ("1.2.10-1", "1.2.9-1"),
    ("2.0-1", "2.0-1"), ("1.0a-1", "1.0-1"), ("1.0+x-1", "1.0.1-1"),
])
def test_debian_version_order_is_dpkgs(a: str, b: str) -> None:
    for left, right in ((a, b), (b, a)):
        ours = compare_versions(left, right)
        lower = subprocess.run(["dpkg", "--compare-versions", left, "lt", right], check=False).returncode == 0
        equal = subprocess.run(["dpkg", "--compare-versions", left, "eq", right], check=False).returncode == 0
        assert (ours < 0, ours == 0) == (lower, equal), (left, right, ours)
