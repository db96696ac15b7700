"""Finding calls that need /bin/sh in compiled modules (erlc from the host's OTP)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder.verify.beam import NotABeam, shell_dependent_imports

pytestmark = pytest.mark.tools("erlc")


def compile_erl(tmp_path: Path, module: str, body: str) -> bytes:
    source = tmp_path / f"{module}.erl"
    source.write_text(f"-module({module}).\n-export([go/0]).\n{body}\n")
    subprocess.run(["erlc", "-o", str(tmp_path), str(source)], check=True, capture_output=True)
    return (tmp_path / f"{module}.beam").read_bytes()


def test_os_cmd_and_heart_are_found(tmp_path: Path) -> None:
    beam = compile_erl(tmp_path, "risky", 'go() -> heart:set_cmd("reboot"), os:cmd("ls", #{}).')
    assert shell_dependent_imports(beam) == ("heart:set_cmd/1", "os:cmd/2")


def test_other_os_calls_are_not_reported(tmp_path: Path) -> None:
    beam = compile_erl(tmp_path, "calm", 'go() -> os:getenv("HOME"), os:type().')
    assert shell_dependent_imports(beam) == ()


def test_garbage_is_not_a_beam() -> None:
    with pytest.raises(NotABeam):
        shell_dependent_imports(b"\x7fELF not a beam")
