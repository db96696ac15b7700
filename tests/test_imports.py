"""What importing a module costs: reading a config or an image never loads the Docker SDK."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["builder.config", "builder.verify", "builder.plan", "builder.render"])
def test_importing_loads_no_docker_sdk(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'docker'))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", f"import {module} loaded {done.stdout.strip()}"
