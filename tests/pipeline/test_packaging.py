"""`pip install` gives a working tool: the templates and launcher sources ship in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.tools("pip")  # pip builds the wheel, fetching the build backend from its index


def test_the_wheel_carries_templates_and_launcher_sources(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, timeout=300)
    wheel, = tmp_path.glob("build_image-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "dockerfiles").glob("*.j2"):
        assert f"builder/dockerfiles/{template.name}" in names
    for source in ("Makefile", "tasks.h.j2", "src/main.c", "src/resolve.c", "erlang/build_image_epmd.erl"):
        assert f"builder/launcher/{source}" in names
    assert any(name.endswith("entry_points.txt") for name in names)
