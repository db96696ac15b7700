"""Every refusal: one line on stderr naming the problem, a distinct exit code,
erlexec never run and nothing written to RELEASE_TMP."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.launcher.conftest import RELEASE_NAME, ReleaseTree, Run, Variant

EXIT_USAGE = 64
EXIT_INTERNAL = 70
EXIT_REFUSED = 78
EXIT_EXEC = 127
ALLOWED = "allowed commands: server, start, migrate, seed"


def assert_refused(
    tree: ReleaseTree, run: Run, code: int, prefix: str, *fragments: str
) -> None:
    assert run.returncode == code, run.stderr
    assert run.stderr.startswith(prefix), run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    for fragment in fragments:
        assert fragment in run.stderr
    assert run.erlexec is None
    assert run.epmd is None
    assert tree.tmp_entries() == []


# --- command line -----------------------------------------------------------


def test_unknown_verb(tree: ReleaseTree) -> None:
    run = tree.run(RELEASE_NAME, "frobnicate")
    assert_refused(
        tree,
        run,
        EXIT_USAGE,
        f"{RELEASE_NAME}: unknown command 'frobnicate'; ",
        ALLOWED,
    )


def test_unknown_program_name_with_unknown_word(tree: ReleaseTree) -> None:
    run = tree.run("whatever", "bogus\nline")
    assert_refused(
        tree, run, EXIT_USAGE, f"{RELEASE_NAME}: unknown command 'bogus?line'; "
    )


@pytest.mark.parametrize(
    ("name", "args", "word", "extra"),
    [
        ("server", ["foreground"], "server", "foreground"),
        ("start", ["x"], "start", "x"),
        ("migrate", ["--now"], "migrate", "--now"),
        (RELEASE_NAME, ["migrate", "x"], "migrate", "x"),
        (RELEASE_NAME, ["server", "y"], "server", "y"),
    ],
)
def test_extra_argument(
    tree: ReleaseTree, name: str, args: list[str], word: str, extra: str
) -> None:
    run = tree.run(name, *args)
    assert_refused(
        tree, run, EXIT_USAGE, f"{name}: ",
        f"'{word}' takes no arguments (got '{extra}')", ALLOWED,
    )  # fmt: skip


@pytest.mark.parametrize("command", ["eval", "rpc", "remote"])
def test_expression_commands_do_not_exist(tree: ReleaseTree, command: str) -> None:
    for run in (
        tree.run(RELEASE_NAME, command, "IO.puts(:pwned)"),
        tree.run(RELEASE_NAME, command),
        tree.run(command, "IO.puts(:pwned)"),
    ):
        assert_refused(
            tree, run, EXIT_USAGE, f"{RELEASE_NAME}: '{command}' does not exist in this release",
            "no command evaluates caller-supplied code", ALLOWED,
        )  # fmt: skip


# --- cookie -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cookie", "fragment"),
    [
        (None, "RELEASE_COOKIE is empty or unset"),
        ("", "RELEASE_COOKIE is empty or unset"),
        (
            "x" * 31,
            "RELEASE_COOKIE is shorter than DIST_COOKIE_MIN_LEN (31 characters, minimum 32)",
        ),
        (RELEASE_NAME, "RELEASE_COOKIE is shorter than DIST_COOKIE_MIN_LEN"),
        (
            "with space " * 4,
            "RELEASE_COOKIE contains a space, control or non-ASCII byte",
        ),
        ("é" * 20, "RELEASE_COOKIE contains a space, control or non-ASCII byte"),
        ("k" * 256, "RELEASE_COOKIE is 256 characters; the VM accepts at most 255"),
    ],
    ids=["unset", "empty", "short", "release-name", "space", "non-ascii", "too-long"],
)
def test_weak_or_unusable_cookie(
    tree: ReleaseTree, cookie: str | None, fragment: str
) -> None:
    run = tree.run("server", env={"RELEASE_COOKIE": cookie})
    assert_refused(tree, run, EXIT_REFUSED, "server: ", fragment)


def test_cookie_equal_to_release_name_even_when_long_enough(tree: ReleaseTree) -> None:
    run = tree.run(
        "server", env={"RELEASE_COOKIE": RELEASE_NAME, "DIST_COOKIE_MIN_LEN": "3"}
    )
    assert_refused(tree, run, EXIT_REFUSED, "server: RELEASE_COOKIE equals the release name",
                   "DIST_ALLOW_WEAK_COOKIE=1 accepts it for local work only")  # fmt: skip


@pytest.mark.parametrize("value", ["yes", "true", "2", " 1", "1\n"])
def test_weak_override_is_unset_0_or_1_and_nothing_else(
    tree: ReleaseTree, value: str
) -> None:
    """A value that is neither is refused by name, even with a strong cookie:
    the operator meant something by it."""
    run = tree.run("server", env={"DIST_ALLOW_WEAK_COOKIE": value})
    assert_refused(
        tree, run, EXIT_REFUSED,
        "server: DIST_ALLOW_WEAK_COOKIE must be unset, '0' or '1' (local work only), got '",
    )  # fmt: skip


@pytest.mark.parametrize("value", ["0", ""])
def test_weak_override_off_still_refuses_a_weak_cookie(
    tree: ReleaseTree, value: str
) -> None:
    run = tree.run(
        "server", env={"RELEASE_COOKIE": "short", "DIST_ALLOW_WEAK_COOKIE": value}
    )
    assert_refused(tree, run, EXIT_REFUSED, "server: RELEASE_COOKIE is shorter")


def test_override_never_accepts_an_empty_cookie(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"RELEASE_COOKIE": "", "DIST_ALLOW_WEAK_COOKIE": "1"})
    assert_refused(tree, run, EXIT_REFUSED, "server: RELEASE_COOKIE is empty or unset")


@pytest.mark.parametrize("value", ["0", "abc", "256", "-1", "99999999999999999999"])
def test_bad_minimum_cookie_length(tree: ReleaseTree, value: str) -> None:
    run = tree.run("server", env={"DIST_COOKIE_MIN_LEN": value})
    assert_refused(
        tree,
        run,
        EXIT_REFUSED,
        "server: DIST_COOKIE_MIN_LEN must be a number from 1 to 255",
    )


# --- TLS --------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "dist/inet_tls.config",
        "dist-certs/dist-cert.pem",
        "dist-certs/dist-key.pem",
        "dist-certs/dist-ca.pem",
    ],
)
def test_each_missing_tls_file_is_named(tree: ReleaseTree, relative: str) -> None:
    (tree.root / relative).unlink()
    run = tree.run("server")
    assert_refused(
        tree, run, EXIT_REFUSED,
        f"server: TLS distribution is required but {tree.root}/{relative} is not readable "
        "(No such file or directory)",
    )  # fmt: skip


# --- release tree -----------------------------------------------------------


def test_missing_start_erl_data(tree: ReleaseTree) -> None:
    (tree.root / "releases" / "start_erl.data").unlink()
    run = tree.run("server")
    assert_refused(tree, run, EXIT_REFUSED,
                   f"server: cannot read {tree.root}/releases/start_erl.data (No such file or directory)")  # fmt: skip


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n",
        "15.2.3\n",
        "15.2.3 0.1.0 extra\n",
        "15.2.3  0.1.0\n",
        "15.2.3 ../../etc\n",
        "15.2.3 ..\n",
        "15.2.3 a/b\n",
        "../15 0.1.0\n",
        "15.2. 0.1.0\n",
        "15.2.3 0.1.0\n\n",
        "15.2.3 0.1.0\r\n",
        "15.2.3 " + "1" * 65 + "\n",
        "15.2.3 0.1.0\n" + "#" * 300,
        "15.2.3 0.1\x000\n",
    ],
)
def test_malformed_start_erl_data(tree: ReleaseTree, content: str) -> None:
    (tree.root / "releases" / "start_erl.data").write_text(content)
    run = tree.run("server")
    assert_refused(tree, run, EXIT_REFUSED,
                   f"server: {tree.root}/releases/start_erl.data is malformed: expected one line")  # fmt: skip


def test_release_root_too_long_for_the_path_buffers(
    tree: ReleaseTree, tmp_path: Path
) -> None:
    base = tmp_path / "deep"
    root = base
    # PATH_MAX is 4096: bin/server still fits, <root>/releases/start_erl.data does not.
    while len(str(root)) < 4080 - 201:
        root = root / ("d" * 200)
    root = root / ("r" * (4080 - len(str(root)) - 1))
    assert len(str(root)) == 4080
    (root / "bin").mkdir(parents=True)
    exe = root / "bin" / "server"
    os.link(tree.binary, exe)
    done = subprocess.run(
        [str(exe)], env=tree.base_env, capture_output=True, text=True, check=False
    )
    assert done.returncode == EXIT_REFUSED, done.stderr
    assert done.stderr == (
        "server: a path under the release root is longer than 4095 bytes; "
        "install the release under a shorter directory\n"
    )


def test_missing_sys_config(tree: ReleaseTree) -> None:
    (tree.rel_dir / "sys.config").unlink()
    run = tree.run("server")
    assert_refused(
        tree, run, EXIT_REFUSED, f"server: cannot read {tree.rel_dir}/sys.config"
    )


# --- environment ------------------------------------------------------------


@pytest.mark.parametrize("value", ["-name", "10.0.0.1 -eval x", "fd00::1", "a" * 254])
def test_bad_pod_ip(tree: ReleaseTree, value: str) -> None:
    run = tree.run("server", env={"POD_IP": value})
    assert_refused(
        tree,
        run,
        EXIT_REFUSED,
        "server: POD_IP '",
        "is not an IPv4 address or host name",
    )


def test_bad_release_mode(tree: ReleaseTree) -> None:
    run = tree.run("migrate", env={"RELEASE_MODE": "foo"})
    assert_refused(tree, run, EXIT_REFUSED,
                   "migrate: RELEASE_MODE must be 'embedded' or 'interactive', got 'foo'")  # fmt: skip


def test_unwritable_release_tmp(tree: ReleaseTree, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    run = tree.run("server", env={"RELEASE_TMP": f"{not_a_dir}/tmp"})
    assert_refused(
        tree, run, EXIT_REFUSED, f"server: cannot create RELEASE_TMP {not_a_dir}/tmp"
    )


# --- exec failures ----------------------------------------------------------


def test_missing_erlexec_exits_127_before_anything_is_started(
    tree: ReleaseTree,
) -> None:
    (tree.bindir / "erlexec").unlink()
    run = tree.run("server")
    assert_refused(tree, run, EXIT_EXEC,
                   f"server: cannot execute {tree.bindir}/erlexec (No such file or directory)")  # fmt: skip


def test_missing_erlexec_for_a_verb(tree: ReleaseTree) -> None:
    (tree.bindir / "erlexec").unlink()
    run = tree.run("seed")
    assert_refused(tree, run, EXIT_EXEC, f"seed: cannot execute {tree.bindir}/erlexec")


def test_failing_epmd_is_an_internal_error(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"FAKE_EPMD_EXIT": "3"})
    assert run.returncode == EXIT_INTERNAL, run.stderr
    assert (
        run.stderr
        == f"server: {tree.bindir}/epmd -daemon failed (status 3); the node cannot register its name\n"
    )
    assert run.erlexec is None
    assert tree.tmp_entries() == []


def test_missing_epmd(tree_factory) -> None:
    tree = tree_factory(Variant())
    (tree.bindir / "epmd").unlink()
    run = tree.run("server")
    assert run.returncode == EXIT_INTERNAL, run.stderr
    assert f"server: cannot execute {tree.bindir}/epmd" in run.stderr
    assert "-daemon failed (status 127)" in run.stderr
    assert run.erlexec is None
    assert tree.tmp_entries() == []


def test_exec_failure_after_setup_removes_the_private_directory(
    tree: ReleaseTree,
) -> None:
    broken = tree.bindir / "erlexec"
    broken.write_text("#!/nonexistent/interpreter\n")
    run = tree.run("server")
    assert run.returncode == EXIT_EXEC, run.stderr
    assert run.stderr == (
        f"server: cannot execute {broken} (No such file or directory); "
        "the release's ERTS is missing or broken\n"
    )
    assert tree.tmp_entries() == []
