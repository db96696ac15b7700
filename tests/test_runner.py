"""builder.runner: a failed program is named, with its status and the end of its stderr."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from builder.errors import CommandFailed
from builder.runner import run

README = Path(__file__).resolve().parent.parent / "README.md"


def test_a_missing_program_is_named_and_the_hint_leads_to_a_readme_section() -> None:
    with pytest.raises(CommandFailed, match="build-image-no-such-program is not installed") as raised:
        run(["build-image-no-such-program"])
    section = re.search(r"README: (\w+)", raised.value.hint or "")
    assert section is not None, raised.value.hint
    assert f"\n## {section.group(1)}\n" in README.read_text(encoding="utf-8")


def test_a_failed_program_shows_its_status_and_stderr() -> None:
    with pytest.raises(CommandFailed) as raised:
        run([sys.executable, "-c", "import sys; sys.stderr.write('first\\nlast words\\n'); sys.exit(3)"])
    assert "exited with status 3" in str(raised.value)
    assert str(raised.value).endswith("\n  first\n  last words")
