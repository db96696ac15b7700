"""The command line: help that teaches, errors that say what to do, documented exit codes."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import pytest
import yaml

from builder import debian
from builder.certs import DEFAULT_NODES
from builder.cli import main
from builder.engine import DockerEngine
from fakes import FakeEngine


def test_help_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    for command in ("build", "render", "verify", "dist-certs", "run"):
        assert command in out
    assert "exit codes" in out and "64 bad command line" in out


def test_a_usage_error_is_exit_64_with_a_hint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 64
    assert "hint: see `build-image" in capsys.readouterr().err


def test_a_bad_config_is_exit_3_naming_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "build-image.yaml").write_text("release: Bad-Name\n")
    assert main(["render", "-c", str(tmp_path / "build-image.yaml"), "-o", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert "release: 'Bad-Name' is not allowed" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def write_project(tmp_path: Path, otp_sha256: str | None = None) -> tuple[Path, str]:
    """A project whose OTP and Elixir sources are one small local tarball; returns (config, its sha256)."""
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "mix.exs").write_text("defmodule A.MixProject do end\n")
    tarball = tmp_path / "src.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tmp_path / "app" / "mix.exs", arcname="src/README")
    actual = hashlib.sha256(tarball.read_bytes()).hexdigest()
    config = tmp_path / "build-image.yaml"
    config.write_text(yaml.safe_dump({
        "release": "a", "app": "app",
        "otp": {"version": "27.3.4.1", "path": "src.tar.gz", "sha256": otp_sha256 or actual},
        "elixir": {"version": "1.18.3", "path": "src.tar.gz", "sha256": actual},
    }))
    return config, actual


def test_a_wrong_checksum_stops_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config, actual = write_project(tmp_path, otp_sha256="e" * 64)
    assert main(["render", "-c", str(config), "-o", str(tmp_path / "out")]) == 4
    err = capsys.readouterr().err
    assert f"expected sha256 {'e' * 64}" in err and f"actual   sha256 {actual}" in err
    assert not (tmp_path / "out").exists()


def test_render_writes_the_plan_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config, _ = write_project(tmp_path)
    assert main(["render", "-c", str(config), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "2-otp" / "Dockerfile").read_text().startswith("# Erlang/OTP 27.3.4.1")
    assert (tmp_path / "out" / "plan.json").is_file()


def test_render_with_path_sources_needs_no_debian_mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(debian, "APT_SOURCES", tmp_path / "no-apt" / "sources.list")
    monkeypatch.setattr(debian, "APT_SOURCE_PARTS", tmp_path / "no-apt" / "sources.list.d")
    config, _ = write_project(tmp_path)
    assert main(["render", "-c", str(config), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "plan.json").is_file()


def test_dist_certs_without_nodes_writes_the_library_default(tmp_path: Path) -> None:
    assert main(["dist-certs", str(tmp_path / "certs")]) == 0
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == sorted(("ca", *DEFAULT_NODES))


def test_verifying_a_missing_image_is_exit_2(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(DockerEngine, "connect", lambda: FakeEngine())
    assert main(["verify", "build-image-test/no-such-image:never"]) == 2
    assert "no-such-image" in capsys.readouterr().err
