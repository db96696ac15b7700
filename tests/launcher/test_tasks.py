"""Task verbs: non-distributed, start_clean, the compiled-in expression only."""

from __future__ import annotations

import pytest

from tests.launcher.conftest import REL_VSN, RELEASE_NAME, TASKS, ReleaseTree, Variant


def expected_task_argv(
    tree: ReleaseTree, expression: str, sys_config: str
) -> list[str]:
    root = str(tree.root)
    rel = f"{root}/releases/{REL_VSN}"
    return [
        str(tree.bindir / "erlexec"),
        "-noshell", "-s", "elixir", "start_cli",
        "-config", sys_config,
        "-boot", f"{rel}/start_clean",
        "-boot_var", "RELEASE_LIB", f"{root}/lib",
        "-args_file", f"{rel}/vm.args",
        "-start_epmd", "false",
        "-extra", "--eval", expression,
    ]  # fmt: skip


def expected_task_env(tree: ReleaseTree, verb: str) -> dict[str, str]:
    return {
        **tree.release_env("PHX_SERVER"),
        "RELEASE_SYS_CONFIG": f"{tree.root}/releases/{REL_VSN}/sys",
        "RELEASE_BOOT_SCRIPT": "start_clean",
        "RELEASE_COMMAND": "eval",
        "RELEASE_PROG": verb,
        "RELEASE_DISTRIBUTION": "none",
    }


@pytest.mark.parametrize(
    "variant", [Variant(), Variant(require_tls=False, epmdless=True)]
)
@pytest.mark.parametrize("verb", sorted(TASKS))
def test_each_verb_runs_its_expression_non_distributed(
    tree_factory, variant: Variant, verb: str
) -> None:
    tree = tree_factory(variant)
    run = tree.run(verb, env={"PHX_SERVER": "true"})
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    sys_config = f"{tree.root}/releases/{REL_VSN}/sys"
    assert run.erlexec["argv"] == expected_task_argv(tree, TASKS[verb], sys_config)
    assert run.erlexec["env"] == expected_task_env(tree, verb)
    assert run.epmd is None
    assert tree.tmp_entries() == []


def test_verb_needs_neither_cookie_nor_certificates(tree: ReleaseTree) -> None:
    for pem in (tree.root / "dist-certs").iterdir():
        pem.unlink()
    run = tree.run("migrate", env={"RELEASE_COOKIE": None, "POD_IP": None})
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.erlexec["argv"][-1] == TASKS["migrate"]


def test_verb_through_the_subcommand_form(tree: ReleaseTree) -> None:
    run = tree.run(RELEASE_NAME, "seed")
    assert run.returncode == 0, run.stderr
    assert run.erlexec["argv"][-2:] == ["--eval", TASKS["seed"]]
    assert run.erlexec["env"]["RELEASE_PROG"] == "seed"


def test_hardlinks_share_one_inode(tree: ReleaseTree) -> None:
    paths = [tree.link(name) for name in ("server", "migrate", "seed", RELEASE_NAME)]
    inodes = {p.stat().st_ino for p in paths}
    assert len(inodes) == 1
    assert paths[0].stat().st_nlink >= len(paths)
    assert tree.run("migrate").erlexec["argv"][-1] == TASKS["migrate"]
    assert tree.run("server").erlexec["argv"][-1] == "--no-halt"


def test_task_with_runtime_config_gets_a_private_copy(tree_factory) -> None:
    tree = tree_factory(runtime_config=True)
    run = tree.run("migrate")
    assert run.returncode == 0, run.stderr
    sys_config = run.erlexec["env"]["RELEASE_SYS_CONFIG"]
    assert sys_config.startswith(f"{tree.release_tmp}/{RELEASE_NAME}-")
    assert sys_config.endswith("/sys")
    assert run.erlexec["sys_config"] == (tree.rel_dir / "sys.config").read_text()
    assert run.erlexec["argv"] == expected_task_argv(tree, TASKS["migrate"], sys_config)
