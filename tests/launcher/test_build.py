"""The Makefile contract: one hardened binary at OUT, nothing written next to
the sources, bad build inputs refused before compiling."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from tests.launcher.conftest import LAUNCHER_SRC, copy_launcher_sources

DT_FLAGS_BIND_NOW = 0x8
DT_FLAGS_1_NOW = 0x1
DT_FLAGS_1_PIE = 0x08000000


def make(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "-C", str(source), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def tree_snapshot(directory: Path) -> dict[str, int]:
    return {
        str(p.relative_to(directory)): p.stat().st_mtime_ns
        for p in directory.rglob("*")
    }


def test_build_writes_only_out(tmp_path: Path) -> None:
    source = copy_launcher_sources(tmp_path / "launcher")
    before = tree_snapshot(source)
    out = tmp_path / "out" / "server"
    out.parent.mkdir()
    done = make(
        source,
        f"OUT={out}",
        "RELEASE_NAME=hello",
        f"TASKS_HEADER={source}/tasks-none.h",
    )
    assert done.returncode == 0, done.stderr
    assert tree_snapshot(source) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["server"]


def test_binary_is_hardened(tmp_path: Path) -> None:
    out = tmp_path / "server"
    done = make(LAUNCHER_SRC, f"OUT={out}", "RELEASE_NAME=hello")
    assert done.returncode == 0, done.stderr
    with out.open("rb") as handle:
        elf = ELFFile(handle)
        assert elf.header["e_type"] == "ET_DYN"
        segments = {segment["p_type"] for segment in elf.iter_segments()}
        assert "PT_GNU_RELRO" in segments
        stack = next(s for s in elf.iter_segments() if s["p_type"] == "PT_GNU_STACK")
        assert not stack["p_flags"] & 0x1, "stack must not be executable"
        dynamic = next(s for s in elf.iter_sections() if isinstance(s, DynamicSection))
        tags = {tag.entry.d_tag: tag.entry.d_val for tag in dynamic.iter_tags()}
        assert "DT_RPATH" not in tags and "DT_RUNPATH" not in tags
        assert (
            tags.get("DT_FLAGS", 0) & DT_FLAGS_BIND_NOW
            or tags.get("DT_FLAGS_1", 0) & DT_FLAGS_1_NOW
        )
        assert tags.get("DT_FLAGS_1", 0) & DT_FLAGS_1_PIE
        imported = {
            sym.name for sym in elf.get_section_by_name(".dynsym").iter_symbols()
        }
    assert "__stack_chk_fail" in imported
    assert any(
        name.endswith("_chk") and name != "__stack_chk_fail" for name in imported
    )


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("RELEASE_NAME=Hello", "RELEASE_NAME must match"),
        ("RELEASE_NAME=a'b", "RELEASE_NAME must match"),
        ("DIST_PORT=0", "DIST_PORT must be a port number"),
        ("DIST_PORT=024369", "DIST_PORT must be a port number"),
        ("DIST_PORT=70000", "DIST_PORT must be a TCP port number"),
        ("REQUIRE_TLS=yes", "REQUIRE_TLS must be 0 or 1"),
        ("EPMDLESS=2", "EPMDLESS must be 0 or 1"),
        (
            "TASKS_HEADER=/nonexistent/tasks.h",
            "TASKS_HEADER '/nonexistent/tasks.h' is not readable",
        ),
        ("DIST_PORT=", "DIST_PORT must be a port number"),
        # The fallback root is the contract's now (CONTRACT_APP_ROOT), not a make variable.
        ("DEFAULT_ROOT=/app", "DEFAULT_ROOT is gone"),
    ],
)
def test_bad_build_inputs_are_refused(
    tmp_path: Path, variable: str, message: str
) -> None:
    out = tmp_path / "server"
    done = make(LAUNCHER_SRC, f"OUT={out}", "RELEASE_NAME=hello", variable)
    assert done.returncode != 0
    assert message in done.stderr
    assert not out.exists()


def test_out_is_required() -> None:
    done = make(LAUNCHER_SRC, "RELEASE_NAME=hello")
    assert done.returncode != 0
    assert "OUT is required" in done.stderr


def test_tests_run_against_the_build_they_claim(launcher_binary) -> None:
    """LAUNCHER_SANITIZE=1 must really select the ASan+UBSan build, and only then."""
    from tests.launcher.conftest import SANITIZE, Variant

    with launcher_binary(Variant()).open("rb") as handle:
        elf = ELFFile(handle)
        names = {sym.name for sym in elf.get_section_by_name(".dynsym").iter_symbols()}
        libraries = {
            tag.needed
            for section in elf.iter_sections()
            if isinstance(section, DynamicSection)
            for tag in section.iter_tags()
            if tag.entry.d_tag == "DT_NEEDED"
        }
    sanitized = (
        any(lib.startswith("libasan") for lib in libraries)
        and "__ubsan_handle_add_overflow_abort" in names
    )
    assert sanitized == SANITIZE, f"libraries={sorted(libraries)}"
