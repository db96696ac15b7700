"""``build-image systemd`` on the command line: what it refuses before touching the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import cli

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"


def test_it_refuses_to_run_without_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Without root the tree could not keep the image's owners (root, 65532): exit 64, nothing written."""
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(["systemd", str(tmp_path / "out"), "-c", str(EXAMPLE_CONFIG)]) == 64
    assert "must run as root" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_help_names_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["systemd", "--help"])
    text = capsys.readouterr().out
    for words in ("/var/lib/<release>/rootfs", "/etc/<release>", "%H", "default: 4000"):
        assert words in text
