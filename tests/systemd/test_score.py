"""The service's exposure as the host's ``systemd-analyze security --offline=true`` scores it (target ≤ 1.5).

Offline analysis reads the unit file alone (no manager, no root filesystem),
so any machine with systemd's tools can run it; the docker tier scores it
again inside the test host, with systemd 252 as PID 1.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from builder import contract
from builder.rootfs import ImageRun
from builder.systemd import Distribution, default_settings, units, write_units

pytestmark = pytest.mark.tools("systemd-analyze")

TARGET = 1.5
RUN = ImageRun(user=contract.RUN_USER, entrypoint=(contract.ENTRYPOINT,),
               env=(("LANG", "C.UTF-8"), ("RELEASE_TMP", "/tmp")), workdir="/app")


def exposure(unit: Path) -> float:
    """The overall exposure ``systemd-analyze security --offline=true`` prints for ``unit``."""
    done = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                          capture_output=True, text=True, check=False)
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, f"systemd-analyze printed no score (exit {done.returncode}):\n{done.stdout}{done.stderr}"
    return float(found[1])


@pytest.mark.parametrize("epmdless", [False, True])
@pytest.mark.parametrize("watchdog", [None, 30])
def test_the_service_scores_within_the_target(tmp_path: Path, epmdless: bool, watchdog: int | None) -> None:
    settings = replace(default_settings("hello"), watchdog_sec=watchdog)
    made = units("hello", RUN, Distribution(contract.DEFAULT_DIST_PORT, epmdless), settings)
    [service, _socket] = write_units(made, tmp_path)
    assert exposure(service) <= TARGET


def test_a_bare_unit_scores_far_worse(tmp_path: Path) -> None:
    """The measure is live: the same ExecStart without the sandbox is exposed (the issue measured 9.2)."""
    bare = tmp_path / "bare.service"
    bare.write_text(f"[Service]\nExecStart={contract.ENTRYPOINT}\n", encoding="utf-8")
    assert exposure(bare) > 9.0
