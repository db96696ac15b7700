"""``build-image pin``: move a pin against Debian sources (a written archive) or a URL, file kept as written."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive_fixture import TODAY, Listed, sha256_of_listed, tarball, write_archive
from builder import config as config_module
from builder.cli import main
from builder.pinfile import NewPin, rewrite

pytestmark = pytest.mark.tools("/usr/lib/apt/apt-helper")

# A release engineer's file: comments everywhere, flow and block styles, a patch list.
COMMENTED = """\
# Production pins for hello. Reviewed by the release team.
release: hello   # the mix release
tag: hello:latest

otp:
  # Security fixes land here first.
  version: "25.2.3"   # bookworm's
  debian: bookworm    # signed by the archive
  sha256: {otp_sha}
  without:
    - wx        # no GUI
    - observer

# Elixir follows OTP.
elixir: {{version: "1.14.0", debian: bookworm}}

hardening:
  cflags: [-O2, -g, -fPIE, -fstack-protector-strong]   # flow style kept
"""


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return write_archive(tmp_path / "archive")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "mix.exs").write_text("defmodule Hello.MixProject do\nend\n")
    config = app / "build-image.yaml"
    config.write_text(COMMENTED.format(otp_sha=sha256_of_listed("erlang", "1:25.2.3+dfsg-1")))
    return config


def pin(config: Path, archive: Path, *words: str) -> int:
    return main(["pin", *words, "-c", str(config), "--sources-index", str(archive)])


def test_pin_there_and_back_keeps_every_comment(project: Path, archive: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    original = project.read_text()

    assert pin(project, archive, "otp", "27.3.4.1", "--debian", "trixie") == 0
    moved = project.read_text()
    diff = capsys.readouterr().out
    # Each comment stays on its line, at its column.
    assert '-  version: "25.2.3"   # bookworm\'s' in diff and '+  version: "27.3.4.1" # bookworm\'s' in diff
    assert "+  debian: trixie      # signed by the archive" in diff
    assert f"+  sha256: {sha256_of_listed('erlang', '1:27.3.4.1+dfsg-1')}" in diff
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert len(changed) == 6, diff  # version, debian and sha256: nothing else moved
    assert moved.count("#") == original.count("#")
    config = config_module.load(project)
    assert (config.otp.source.version, config.otp.source.debian_suite) == ("27.3.4.1", "trixie")

    assert pin(project, archive, "otp", "25.2.3", "--debian", "bookworm") == 0
    assert project.read_text() == original  # byte for byte


def test_pin_elixir_adds_sha256_and_quotes_the_version(project: Path, archive: Path) -> None:
    assert pin(project, archive, "elixir", "1.20.4", "--debian", "sid") == 0
    assert (f'elixir: {{version: "1.20.4", debian: sid, sha256: {sha256_of_listed("elixir-lang", "1.20.4.dfsg-1")}}}'
            in project.read_text())


def test_dry_run_prints_the_diff_and_writes_nothing(project: Path, archive: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_text()
    assert pin(project, archive, "otp", "27.3.4.1", "--debian", "trixie", "--dry-run") == 0
    assert '+  version: "27.3.4.1"' in capsys.readouterr().out
    assert project.read_text() == before


def test_a_version_the_suite_lacks_names_the_versions_that_exist(project: Path, archive: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_text()
    assert pin(project, archive, "otp", "27.3.4.1") == 4  # still bookworm
    err = capsys.readouterr().err
    assert "Debian bookworm has no erlang 27.3.4.1; it has: 25.2.3" in err
    assert "27.3.4.1 in trixie" in err and "29.1.2 in sid" in err
    assert project.read_text() == before


def test_a_checksum_mismatch_after_download_pins_nothing(project: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tampered = write_archive(tmp_path / "tampered", (*TODAY[:2], Listed("trixie", "erlang", "1:27.3.4.1+dfsg-1",
                                                                        corrupt=True)))
    before = project.read_text()
    assert pin(project, tampered, "otp", "27.3.4.1", "--debian", "trixie") == 4
    assert "checksum mismatch" in capsys.readouterr().err
    assert project.read_text() == before
    assert not list((tmp_path / "cache").rglob("erlang_27*"))


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[str]:
    """An HTTP server with OTP source tarballs, as a release page would serve them."""
    root = tmp_path / "upstream"
    root.mkdir()
    for version in ("27.3.4.1", "27.3.4.3"):
        (root / f"otp_src_{version}.tar.gz").write_bytes(tarball("otp_src", version))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_pin_a_url_pattern_computes_and_shows_the_sha256(project: Path, archive: Path, upstream: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    assert pin(project, archive, "otp", "27.3.4.1", "--url", f"{upstream}/otp_src_{{version}}.tar.gz") == 0
    expected = hashlib.sha256(tarball("otp_src", "27.3.4.1")).hexdigest()
    assert f"sha256 {expected}" in capsys.readouterr().err
    assert f"  url: {upstream}/otp_src_27.3.4.1.tar.gz" in project.read_text()
    # The pattern now comes from the pin itself: a patch release is one word away.
    assert main(["pin", "otp", "27.3.4.3", "-c", str(project)]) == 0
    assert config_module.load(project).otp.source.url == f"{upstream}/otp_src_27.3.4.3.tar.gz"
    assert main(["pin", "otp", "27.3.4.9", "-c", str(project)]) == 4
    assert "no tarball at" in capsys.readouterr().err


def test_versions_are_written_quoted(tmp_path: Path) -> None:
    file = tmp_path / "build-image.yaml"
    file.write_text("elixir:\n  version: 1.18.3\n  url: https://e/v1.18.3.tar.gz\n  sha256: x\n")
    _, new = rewrite(file, NewPin("elixir", "1.20", "a" * 64, "url", "https://e/v1.20.tar.gz"))
    assert new == f'elixir:\n  version: "1.20"\n  url: https://e/v1.20.tar.gz\n  sha256: {"a" * 64}\n'


def test_pin_hex_moves_the_client_by_its_url(tmp_path: Path, upstream: str, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "mix.exs").write_text("defmodule Hello.MixProject do\nend\n")
    config = tmp_path / "build-image.yaml"
    old_sum = hashlib.sha256(tarball("otp_src", "27.3.4.1")).hexdigest()
    config.write_text(COMMENTED.format(otp_sha=sha256_of_listed("erlang", "1:25.2.3+dfsg-1"))
                      + f"hex:\n  version: \"27.3.4.1\"  # the client\n"
                        f"  url: {upstream}/otp_src_27.3.4.1.tar.gz\n  sha256: {old_sum}\n")
    assert main(["pin", "hex", "27.3.4.3", "-c", str(config)]) == 0
    hex_pin = config_module.load(config).hex
    assert hex_pin is not None and hex_pin.client.version == "27.3.4.3"
    assert hex_pin.client.sha256 == hashlib.sha256(tarball("otp_src", "27.3.4.3")).hexdigest()
    assert 'version: "27.3.4.3"  # the client' in config.read_text()
    assert main(["pins", "-c", str(config)]) == 0
    assert "hex     27.3.4.3" in capsys.readouterr().out
