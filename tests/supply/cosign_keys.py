"""Throwaway cosign key pairs for the tests (never a real key, never a real password)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

COSIGN_PASSWORD = "a test password, never a real secret"
ENV = {**os.environ, "COSIGN_PASSWORD": COSIGN_PASSWORD}


def make_key_pair(directory: Path) -> Path:
    """``cosign generate-key-pair`` in ``directory`` (cosign.key, cosign.pub); returns it."""
    subprocess.run(["cosign", "generate-key-pair"], cwd=directory, check=True, capture_output=True, env=ENV)
    return directory
