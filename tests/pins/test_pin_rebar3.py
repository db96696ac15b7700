"""``build-image pin rebar3``: Debian's binary package through apt's signed index (faked here), or a URL.

rebar3 is pinned as a .deb (only its escript is used), so it moves through
the suite's binary Packages index the way a build fetches it
(``sources.fetch_rebar3``), never through the Sources indexes OTP and
Elixir use; the file keeps its comments and the version is written quoted.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import fakes
from builder import config as config_module
from builder.cli import main

SHOWN = (b"Package: rebar3\nVersion: 3.19.0-1\n\nPackage: rebar3\nVersion: 3.20.0-1\n"
         b"Filename: pool/r/rebar3.deb\n")
PINS = """\
bases:
  mirror: http://archive.invalid/debian   # no host apt sources needed
otp:
  version: "27.3.4.1"
  url: https://example.invalid/otp_src_27.3.4.1.tar.gz
  sha256: {zero}
elixir:
  version: "1.18.3"
  url: https://example.invalid/v1.18.3.tar.gz
  sha256: {zero}
rebar3:
  # the escript mix runs for rebar3 dependencies
  version: "3.19.0"
  debian: bookworm   # Debian's rebar3 package
"""


@pytest.fixture
def fake_apt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """apt answered from SHOWN; the .deb's bytes name its version, so each version has its own sha256."""
    return fakes.fake_apt(monkeypatch, tmp_path / "cache", SHOWN, str.encode)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mix.exs").write_text("defmodule Hello.MixProject do\nend\n")
    config = tmp_path / "build-image.yaml"
    config.write_text(PINS.format(zero="a" * 64))
    return config


def test_pin_rebar3_moves_the_debian_package_and_writes_its_sha256(
        project: Path, fake_apt: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pin", "rebar3", "3.20.0", "-c", str(project)]) == 0
    pinned = config_module.load(project).rebar3
    assert pinned is not None and pinned.version == "3.20.0" and pinned.debian_suite == "bookworm"
    assert pinned.sha256 == hashlib.sha256(b"rebar3=3.20.0-1").hexdigest()
    text = project.read_text()
    assert '  version: "3.20.0"\n  debian: bookworm   # Debian\'s rebar3 package\n  sha256: ' in text
    assert "# the escript mix runs for rebar3 dependencies" in text
    assert any(words[0] == "apt-get" and words[-2:] == ["download", "rebar3=3.20.0-1"] for words in fake_apt)
    assert "pinned rebar3 3.20.0 from debian bookworm" in capsys.readouterr().err


def test_a_version_the_suite_lacks_names_the_versions_it_has(
        project: Path, fake_apt: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_text()
    assert main(["pin", "rebar3", "3.22.0", "-c", str(project)]) == 4
    assert "no binary package rebar3 3.22.0 (it has: 3.19.0-1, 3.20.0-1)" in capsys.readouterr().err
    assert project.read_text() == before


def test_dry_run_prints_the_diff_and_writes_nothing(
        project: Path, fake_apt: list[list[str]], capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_text()
    assert main(["pin", "rebar3", "3.20.0", "--dry-run", "-c", str(project)]) == 0
    assert '-  version: "3.19.0"\n+  version: "3.20.0"' in capsys.readouterr().out
    assert project.read_text() == before


def test_sources_index_does_not_apply_to_the_binary_package(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pin", "rebar3", "3.20.0", "-c", str(project), "--sources-index", str(tmp_path)]) == 64
    assert "rebar3 is Debian's binary package" in capsys.readouterr().err


def test_a_config_without_rebar3_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mix.exs").write_text("defmodule Hello.MixProject do\nend\n")
    config = tmp_path / "build-image.yaml"
    config.write_text(PINS.format(zero="a" * 64).split("rebar3:")[0])
    assert main(["pin", "rebar3", "3.20.0", "-c", str(config)]) == 64
    assert "pins no rebar3" in capsys.readouterr().err


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server over tmp_path/upstream, as a release page would serve the escript."""
    root = tmp_path / "upstream"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_pin_rebar3_by_url_takes_the_escript_without_a_tarball_check(
        project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: tuple[str, Path]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url, root = upstream
    escript = root / "3.24.0" / "rebar3"
    escript.parent.mkdir(parents=True)
    escript.write_bytes(b"#!/usr/bin/env escript\n%% not a tarball\n")
    pattern = f"{url}/{{version}}/rebar3"
    assert main(["pin", "rebar3", "3.24.0", "--url", pattern, "-c", str(project)]) == 0
    pinned = config_module.load(project).rebar3
    assert pinned is not None and pinned.url == pattern.replace("{version}", "3.24.0")
    assert pinned.sha256 == hashlib.sha256(escript.read_bytes()).hexdigest() and pinned.debian_suite is None


def test_pins_lists_rebar3_and_check_says_why_it_is_not_looked_up(
        project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pins", "-c", str(project)]) == 0
    assert "rebar3  3.19.0     debian bookworm" in capsys.readouterr().out
    from builder import pins
    reports = pins.check(config_module.load(project), indexes=None)  # type: ignore[arg-type]
    rebar3 = next(r for r in reports if r.name == "rebar3")
    assert rebar3.checked is not None and "binary package" in rebar3.checked
