"""Release overlays that are shell scripts cannot run in the image: the build names each one."""

from __future__ import annotations

from pathlib import Path

from builder.project import overlay_scripts


def test_only_the_overlays_scripts_are_named(tmp_path: Path) -> None:
    bin_dir = tmp_path / "rel" / "overlays" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "server").write_text("#!/bin/sh\nexec ./app start\n")
    (bin_dir / "migrate").write_text("#!/bin/sh\nexec ./app eval App.Release.migrate\n")
    (tmp_path / "rel" / "overlays" / "notes.txt").write_text("not a script\n")
    (bin_dir / "link").symlink_to(bin_dir / "server")
    assert overlay_scripts(tmp_path) == ["rel/overlays/bin/migrate", "rel/overlays/bin/server"]


def test_a_project_without_overlays_has_none(tmp_path: Path) -> None:
    assert overlay_scripts(tmp_path) == []
