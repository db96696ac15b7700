"""Every command runs the VM in the release root: in interactive mode (every
task verb) the code path starts with ".", so a module in the caller's working
directory would shadow the release's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launcher.conftest import RELEASE_NAME, TASKS, ReleaseTree

COMMANDS = [("server", ()), *((verb, ()) for verb in sorted(TASKS)), (RELEASE_NAME, ("seed",))]


@pytest.mark.parametrize(("name", "args"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_changes_to_the_release_root(
    tree: ReleaseTree, tmp_path: Path, name: str, args: tuple[str, ...]
) -> None:
    elsewhere = tmp_path / "caller"
    elsewhere.mkdir()
    (elsewhere / "Elixir.Hello.Release.beam").write_bytes(b"FOR1 shadow")
    run = tree.run(name, *args, cwd=elsewhere)
    assert run.returncode == 0, run.stderr
    assert run.erlexec["cwd"] == str(tree.root)

