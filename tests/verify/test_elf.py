"""Each ELF property, detected both ways on programs compiled with and without its flag,
and cross-checked against Debian's checksec and devscripts' hardening-check."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from _support import checksec_verdicts, compile_c, disagreements, hardening_check_verdicts, our_verdicts
from builder.verify.elf import NotAnElf, Status, inspect_elf

pytestmark = pytest.mark.tools("gcc", "checksec", "hardening-check")

P, F, N = Status.PASS, Status.FAIL, Status.NOTHING_FORTIFIABLE
PROPS = ("pie", "relro", "stack-protector", "fortify", "nx-stack", "no-rpath")

# variant -> expected status per property, in PROPS order
EXPECTED: dict[str, tuple[Status, ...]] = {
    "hardened":            (P, P, P, P, P, P),
    "no-pie":              (F, P, P, P, P, P),
    "partial-relro":       (P, F, P, P, P, P),
    "no-relro":            (P, F, P, P, P, P),
    "no-stack-protector":  (P, P, F, P, P, P),
    "no-fortify":          (P, P, P, F, P, P),
    "exec-stack":          (P, P, P, P, F, P),
    "rpath":               (P, P, P, P, P, F),
    "runpath":             (P, P, P, P, P, F),
    # no array on the stack: -fstack-protector-strong has nothing to guard
    "nothing-fortifiable": (P, P, F, N, P, P),
    "shared-object":       (P, P, P, P, P, P),
    # static: no dynamic symbols to read; RELRO cannot be lazy without a loader
    "static":              (F, P, F, N, P, P),
}

# Where the other tools' heuristics differ from our strict rules, by design
# (see builder/verify/README.md, "Where the verifier differs").
KNOWN = {
    # checksec reads .symtab (present in an unstripped static binary) and finds
    # the statically linked __stack_chk_fail; we read only what a stripped file keeps.
    ("static", "checksec", "stack-protector"),
    # Neither tool credits RELRO without BIND_NOW; a static binary has no lazy binding.
    ("static", "checksec", "relro"),
    ("static", "hardening-check", "relro"),
}


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_each_property_is_detected_both_ways(programs: dict[str, Path], variant: str) -> None:
    facts = inspect_elf(programs[variant].read_bytes())
    got = tuple(facts.check(p).status for p in PROPS)
    assert got == EXPECTED[variant], {p: facts.check(p).detail for p in PROPS}


@pytest.mark.parametrize("variant", sorted(EXPECTED))
def test_verdicts_agree_with_checksec_and_hardening_check(programs: dict[str, Path], variant: str) -> None:
    path = programs[variant]
    ours = our_verdicts(inspect_elf(path.read_bytes()))
    for tool, theirs in (("checksec", checksec_verdicts(path)), ("hardening-check", hardening_check_verdicts(path))):
        differ = {p: v for p, v in disagreements(ours, theirs).items() if (variant, tool, p) not in KNOWN}
        assert not differ, f"{tool} disagrees on {variant}: {{property: (ours, theirs)}} = {differ}"


def test_kinds(programs: dict[str, Path]) -> None:
    assert inspect_elf(programs["hardened"].read_bytes()).kind == "pie-executable"
    assert inspect_elf(programs["no-pie"].read_bytes()).kind == "executable"
    assert inspect_elf(programs["shared-object"].read_bytes()).kind == "shared-object"


def test_rpath_detail_names_the_path(programs: dict[str, Path]) -> None:
    assert "RPATH=/opt/lib" in inspect_elf(programs["rpath"].read_bytes()).check("no-rpath").detail
    assert "RUNPATH=/opt/lib" in inspect_elf(programs["runpath"].read_bytes()).check("no-rpath").detail


def test_cet_marking_is_seen_when_present_and_lost_by_debian_start_files(tmp_path: Path) -> None:
    source = "int f(int x) { return x + 1; }\n"
    marked = compile_c(tmp_path / "cet.so", source, ("-fcf-protection=full", "-fPIC", "-shared", "-nostdlib"))
    program = compile_c(tmp_path / "cetprog", "int main(void) { return 0; }\n", ("-fcf-protection=full",))
    assert inspect_elf(marked.read_bytes()).check("cet").status is P
    assert inspect_elf(program.read_bytes()).check("cet").status is F


def test_the_c_library_is_credited_for_defining_stack_chk_fail() -> None:
    libc = inspect_elf(Path("/lib/x86_64-linux-gnu/libc.so.6").read_bytes())
    assert libc.check("stack-protector").status is P
    assert "defines __stack_chk_fail" in libc.check("stack-protector").detail
    assert libc.check("fortify").status is N


def test_relocatable_objects_are_not_judged(tmp_path: Path) -> None:
    src = tmp_path / "o.c"
    src.write_text("int f(void) { return 1; }\n")
    subprocess.run(["gcc", "-c", "-o", str(tmp_path / "o.o"), str(src)], check=True)
    with pytest.raises(NotAnElf, match="ET_REL"):
        inspect_elf((tmp_path / "o.o").read_bytes())
