"""The private directories of earlier boots (`<release>-XXXXXX` under
RELEASE_TMP, made by mkdtemp) hold a cookie each.  The server removes them,
and only them, before it makes its own; it never follows a symlink, never
touches another user's or another release's, and task verbs clean nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.launcher.conftest import RELEASE_NAME, ReleaseTree

COOKIE = ".erlang.cookie"


def earlier_boot(tmp: Path, name: str, *, extra: str | None = None) -> Path:
    directory = tmp / name
    directory.mkdir(mode=0o700)
    (directory / COOKIE).write_text("old-cookie")
    (directory / COOKIE).chmod(0o400)
    (directory / "sys.config").write_text("[].\n")
    if extra is not None:
        (directory / extra).write_text("not ours")
    return directory


def own_dirs(tree: ReleaseTree, home: str) -> list[str]:
    return [name for name in tree.tmp_entries() if name != Path(home).name]


def test_server_removes_earlier_private_dirs(tree: ReleaseTree) -> None:
    for suffix in ("AbC123", "zz9ZZ9", "000000"):
        earlier_boot(tree.release_tmp, f"{RELEASE_NAME}-{suffix}")
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert tree.tmp_entries() == [Path(run.erlexec["env"]["HOME"]).name]
    assert run.erlexec["cookie"] != "old-cookie"


def test_a_second_boot_leaves_one_directory(tree: ReleaseTree) -> None:
    first = tree.run("server")
    second = tree.run("server")
    assert first.returncode == second.returncode == 0
    assert tree.tmp_entries() == [Path(second.erlexec["env"]["HOME"]).name]


def test_what_is_not_an_earlier_private_dir_is_left_alone(
    tree: ReleaseTree, tmp_path: Path
) -> None:
    tmp = tree.release_tmp
    elsewhere = earlier_boot(tmp_path, "target")
    (tmp / f"{RELEASE_NAME}-Lnk111").symlink_to(elsewhere)  # a symlink: not followed
    (tmp / f"{RELEASE_NAME}-File11").write_text("a file")  # not a directory
    earlier_boot(tmp, "other-AbC123")  # another release's
    earlier_boot(tmp, f"{RELEASE_NAME}-AbC1234")  # not mkdtemp's six characters
    earlier_boot(tmp, f"{RELEASE_NAME}-AbC12")
    earlier_boot(tmp, f"{RELEASE_NAME}-AbC.12")
    earlier_boot(tmp, f"{RELEASE_NAME}_AbC123")
    (tmp / "unrelated").mkdir()
    before = sorted(p.name for p in tmp.iterdir())
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert own_dirs(tree, run.erlexec["env"]["HOME"]) == before
    assert (elsewhere / COOKIE).read_text() == "old-cookie"
    assert (elsewhere / "sys.config").exists()
    assert (tmp / f"{RELEASE_NAME}-Lnk111").is_symlink()


def test_another_users_directory_is_left_alone(tree: ReleaseTree) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    theirs = earlier_boot(tree.release_tmp, f"{RELEASE_NAME}-Other1")
    os.chown(theirs, 65534, 65534)
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert (theirs / COOKIE).exists()


def test_foreign_files_keep_the_directory_but_not_the_secrets(tree: ReleaseTree) -> None:
    """Only the launcher's own files are removed; rmdir then fails on the
    rest, which a warning names, and the boot goes on."""
    kept = earlier_boot(tree.release_tmp, f"{RELEASE_NAME}-Keep11", extra="notes.txt")
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    assert run.stderr == (
        f"server: cannot remove {kept}, the private directory of an earlier boot "
        "(Directory not empty); its cookie and config copy are gone, remove the rest by hand\n"
    )


def test_task_verbs_remove_nothing(tree_factory) -> None:
    tree = tree_factory(runtime_config=True)
    earlier = earlier_boot(tree.release_tmp, f"{RELEASE_NAME}-AbC123")
    run = tree.run("migrate")
    assert run.returncode == 0, run.stderr
    assert (earlier / COOKIE).exists()
    assert len(tree.tmp_entries()) == 2


def test_refusals_remove_nothing(tree: ReleaseTree) -> None:
    earlier = earlier_boot(tree.release_tmp, f"{RELEASE_NAME}-AbC123")
    run = tree.run("server", env={"RELEASE_COOKIE": ""})
    assert run.returncode == 78
    assert (earlier / COOKIE).exists()
