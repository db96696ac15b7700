"""The launcher's own knobs (launcher/README.md, the allowlist): each value
is checked before anything is written, and every value echoed in a message
goes through the printable filter, so a message stays one printable line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.launcher.conftest import RELEASE_NAME, ReleaseTree, make_tree
from tests.launcher.test_refusals import EXIT_EXEC, EXIT_REFUSED, assert_refused

HOSTILE = "a\x1b[31mb\nc"  # an ANSI colour sequence and a newline
SHOWN = "a?[31mb?c"


# --- RELEASE_TMP --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("relative/tmp", "is not an absolute path"),
        ("./tmp", "is not an absolute path"),
        ("/tmp/../etc", "has a '..' component"),
        ("/tmp/..", "has a '..' component"),
        ("/../tmp", "has a '..' component"),
        ("/tmp/\x7fx", "has a control or non-ASCII byte"),
        ("/tmp/é", "has a control or non-ASCII byte"),
        ("/" + "t" * 1024, "is longer than 1024 bytes"),
    ],
)
@pytest.mark.parametrize("command", ["server", "seed"])
def test_bad_release_tmp(tree: ReleaseTree, command: str, value: str, reason: str) -> None:
    run = tree.run(command, env={"RELEASE_TMP": value})
    assert_refused(tree, run, EXIT_REFUSED, f"{command}: RELEASE_TMP '", f"' {reason}; ")


@pytest.mark.parametrize("value", ["/tmp/..x/y", "/tmp/x..", "/tmp/./x", "/tmp//x", "/t p"])
def test_release_tmp_that_only_looks_odd_is_accepted(
    tree: ReleaseTree, tmp_path: Path, value: str
) -> None:
    tmp = f"{tmp_path}{value}"
    Path(tmp).parent.mkdir(parents=True, exist_ok=True)
    run = tree.run("server", env={"RELEASE_TMP": tmp})
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"]["RELEASE_TMP"] == tmp


def test_empty_release_tmp_means_the_default(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"RELEASE_TMP": ""})
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"]["RELEASE_TMP"] == f"{tree.root}/tmp"


# --- ERL_CRASH_DUMP_SECONDS -----------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "1.5", "+5", "--1", "-", "5s", " 5", "1234567890"])
@pytest.mark.parametrize("command", ["server", "migrate"])
def test_bad_crash_dump_seconds(tree: ReleaseTree, command: str, value: str) -> None:
    run = tree.run(command, env={"ERL_CRASH_DUMP_SECONDS": value})
    assert_refused(
        tree, run, EXIT_REFUSED,
        f"{command}: ERL_CRASH_DUMP_SECONDS must be an integer (0: no crash dump, the default)",
    )  # fmt: skip


@pytest.mark.parametrize(("value", "handed"), [("0", "0"), ("-1", "-1"), ("30", "30"), ("", "0")])
def test_crash_dump_seconds_values(tree: ReleaseTree, value: str, handed: str) -> None:
    run = tree.run("server", env={"ERL_CRASH_DUMP_SECONDS": value})
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"]["ERL_CRASH_DUMP_SECONDS"] == handed


# --- the printable filter -------------------------------------------------------


CRASH_DUMP_REFUSAL = "ERL_CRASH_DUMP_SECONDS must be an integer (0: no crash dump, the default), got '"


@pytest.mark.parametrize(
    ("command", "variable", "prefix"),
    [
        ("server", "DIST_COOKIE_MIN_LEN", "DIST_COOKIE_MIN_LEN must be a number from 1 to 255, got '"),
        ("server", "POD_IP", "POD_IP '"),
        ("server", "DIST_ALLOW_WEAK_COOKIE",
         "DIST_ALLOW_WEAK_COOKIE must be unset, '0' or '1' (local work only), got '"),
        ("server", "RELEASE_MODE", "RELEASE_MODE must be 'embedded' or 'interactive', got '"),
        ("migrate", "RELEASE_MODE", "RELEASE_MODE must be 'embedded' or 'interactive', got '"),
        ("server", "ERL_CRASH_DUMP_SECONDS", CRASH_DUMP_REFUSAL),
        ("seed", "ERL_CRASH_DUMP_SECONDS", CRASH_DUMP_REFUSAL),
    ],
)  # fmt: skip
def test_echoed_values_are_filtered(
    tree: ReleaseTree, command: str, variable: str, prefix: str
) -> None:
    run = tree.run(command, env={variable: HOSTILE})
    assert_refused(tree, run, EXIT_REFUSED, f"{command}: {prefix}{SHOWN}'")
    assert "\x1b" not in run.stderr


@pytest.mark.parametrize("command", ["server", "seed"])
def test_a_hostile_release_tmp_is_filtered(tree: ReleaseTree, command: str) -> None:
    run = tree.run(command, env={"RELEASE_TMP": f"/tmp/{HOSTILE}"})
    assert_refused(
        tree, run, EXIT_REFUSED,
        f"{command}: RELEASE_TMP '/tmp/{SHOWN}' has a control or non-ASCII byte; ",
    )  # fmt: skip


def test_an_unwritable_release_tmp_path_is_echoed_whole(tree: ReleaseTree, tmp_path: Path) -> None:
    """Paths are not cut like words: the operator needs all of it."""
    not_a_dir = tmp_path / ("f" * 80)
    not_a_dir.write_text("")
    run = tree.run("server", env={"RELEASE_TMP": f"{not_a_dir}/tmp"})
    assert_refused(
        tree, run, EXIT_REFUSED, f"server: cannot create RELEASE_TMP {not_a_dir}/tmp (Not a directory)"
    )


def test_long_words_are_cut(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"POD_IP": "-" + "x" * 200})
    assert_refused(tree, run, EXIT_REFUSED, "server: POD_IP '-" + "x" * 63 + "' is not")


def test_words_in_the_command_line_are_filtered(tree: ReleaseTree) -> None:
    run = tree.run(RELEASE_NAME, HOSTILE)
    assert run.stderr.startswith(f"{RELEASE_NAME}: unknown command '{SHOWN}'; "), run.stderr
    assert run.stderr.count("\n") == 1


def test_paths_in_messages_are_filtered_too(tree: ReleaseTree, tmp_path: Path) -> None:
    """Not only the caller's words: the whole line goes through the filter,
    so even a release installed under a hostile directory name prints one line."""
    hostile_tree = make_tree(tmp_path / f"x{HOSTILE}", tree.binary)
    (hostile_tree.bindir / "erlexec").unlink()
    run = hostile_tree.run("server")
    assert run.returncode == EXIT_EXEC, run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    assert f"/x{SHOWN}/app/erts-" in run.stderr
    assert "\x1b" not in run.stderr
