"""Build-time VM flags (launcher.vm_flags): rendered into the task header as
LAUNCHER_VM_FLAGS(WORD) and handed to erlexec by the server and every task
verb, after `-args_file <vm.args>` and before `-start_epmd false`."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.tasks import render_task_header
from tests.launcher.conftest import LAUNCHER_SRC, REL_VSN, TASKS, Variant, run_with_header

FLAGS = ("+S", "2:2", "+sbwt", "none", "+MBas", "aobf")
ODD = ("+P", 'a "quoted" ??= \\ word\n', "é")


def between_vm_args_and_start_epmd(argv: list[str], rel_dir: str) -> list[str]:
    start = argv.index("-args_file")
    assert argv[start + 1] == f"{rel_dir}/vm.args"
    end = argv.index("-start_epmd")
    assert argv[end + 1] == "false"
    assert argv[end + 2] == "-extra", "-start_epmd false is the last flag"
    return argv[start + 2 : end]


@pytest.mark.parametrize("command", ["server", *sorted(TASKS)])
def test_vm_flags_follow_vm_args(tree_factory, command: str) -> None:
    tree = tree_factory(Variant(vm_flags=FLAGS))
    run = tree.run(command)
    assert run.returncode == 0, run.stderr
    rel_dir = f"{tree.root}/releases/{REL_VSN}"
    assert between_vm_args_and_start_epmd(run.erlexec["argv"], rel_dir) == list(FLAGS)


def test_vm_flags_come_after_the_distribution_flags(tree_factory) -> None:
    tree = tree_factory(Variant(epmdless=True, vm_flags=FLAGS))
    argv = tree.run("server").erlexec["argv"]
    assert argv.index("-proto_dist") < argv.index("-args_file") < argv.index("+S")
    assert argv.index("epmd_module") < argv.index("+S")


def test_words_reach_erlexec_byte_for_byte(tree_factory) -> None:
    tree = tree_factory(Variant(vm_flags=ODD))
    run = tree.run("seed")
    assert run.returncode == 0, run.stderr
    rel_dir = f"{tree.root}/releases/{REL_VSN}"
    assert between_vm_args_and_start_epmd(run.erlexec["argv"], rel_dir) == list(ODD)


def test_no_vm_flags_no_words(tree) -> None:
    rel_dir = f"{tree.root}/releases/{REL_VSN}"
    assert between_vm_args_and_start_epmd(tree.run("server").erlexec["argv"], rel_dir) == []


def test_header_lists_the_words_in_order_and_escaped() -> None:
    header = render_task_header({}, vm_flags=("+S", "2:2", 'x"?'))
    lines = [line.strip() for line in header.splitlines() if line.strip().startswith("WORD(")]
    assert lines == ['WORD("+S") \\', 'WORD("2:2") \\', 'WORD("x\\"\\?") \\']
    assert "#define LAUNCHER_VM_FLAGS(WORD) \\" in header


def test_vm_flags_round_trip_through_the_c_compiler(tmp_path: Path) -> None:
    header = tmp_path / "tasks.h"
    header.write_text(render_task_header(TASKS, vm_flags=FLAGS + ODD))
    out = run_with_header(tmp_path, header, (
        "#include <stdio.h>\n"
        '#define PRINT(word) printf("%s%c", word, 0);\n'
        "int main(void) { LAUNCHER_VM_FLAGS(PRINT) return 0; }\n"
    )).stdout
    assert [w.decode() for w in out.split(b"\0")[:-1]] == list(FLAGS + ODD)


@pytest.mark.parametrize("header", ["tasks-none.h", "rendered"])
def test_every_header_defines_both_macros(tmp_path: Path, header: str) -> None:
    """The default header and an empty rendered one compile and define both tables, empty."""
    path = LAUNCHER_SRC / header
    if header == "rendered":
        path = tmp_path / "tasks.h"
        path.write_text(render_task_header({}))
    counted = run_with_header(tmp_path, path, (
        "#define ONE(...) n++;\n"
        "int main(void) { int n = 0; LAUNCHER_TASKS(ONE) LAUNCHER_VM_FLAGS(ONE) return n; }\n"
    ))
    assert counted.returncode == 0
