"""The libFuzzer target builds with clang-14 and survives a short run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.launcher.conftest import LAUNCHER_SRC


def test_fuzz_target_short_run(tmp_path: Path) -> None:
    clang = shutil.which("clang-14")
    assert clang, "clang-14 is required for the fuzz target (apt-get install clang-14)"
    out = tmp_path / "fuzz_launcher"
    built = subprocess.run(
        ["make", "-s", "-C", str(LAUNCHER_SRC), "fuzz", f"CC={clang}", f"OUT={out}"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    done = subprocess.run(
        [
            str(out),
            "-runs=50000",
            "-seed=1",
            str(corpus),
            str(LAUNCHER_SRC / "fuzz" / "seeds"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done 50000 runs" in done.stderr
