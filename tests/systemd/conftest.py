"""The systemd tests: rendered units (unit tier), their score (systemd-analyze), real systemd as PID 1 (docker).

The helpers of the verifier's tests (hand-written layers) and of the runtime
tests (private networks, HTTP and cluster views) are imported by name.
"""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for helpers in ("verify", "runtime"):
    if str(TESTS / helpers) not in sys.path:
        sys.path.insert(0, str(TESTS / helpers))
