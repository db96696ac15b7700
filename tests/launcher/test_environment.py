"""The environment rule: whatever reaches the VM as flags, code or loader
settings is decided at build time.  A refused variable, even set to "",
stops every command right after command resolution: one line naming it
(never its value), exit 77, nothing started, nothing written."""

from __future__ import annotations

import pytest

from builder import contract
from tests.launcher.conftest import RELEASE_NAME, TASKS, ReleaseTree

EXIT_ENV_REFUSED = 77
EXIT_USAGE = 64

# Every variable erlexec, the VM, epmd or OTP 27 reads as flags, code paths or
# settings (launcher/README.md has the table with the files), a few a future
# OTP might add, and the loader's.
REFUSED = [
    "ERL_AFLAGS", "ERL_FLAGS", "ERL_ZFLAGS", "ERL_OTP27_FLAGS", "ERL_OTP28_FLAGS",
    "ERL_LIBS", "ERL_INETRC", "ERL_INET_ETC_DIR", "ERL_EPMD_PORT", "ERL_EPMD_ADDRESS",
    "ERL_EPMD_DIST_HIGH", "ERL_EPMD_DIST_LOW", "ERL_EPMD_RELAXED_COMMAND_CHECK",
    "ERL_DIST_PORT", "ERL_CRASH_DUMP", "ERL_CRASH_DUMP_BYTES", "ERL_CRASH_DUMP_NICE",
    "ERL_MAX_PORTS", "ERL_MAX_ETS_TABLES", "ERL_FULLSWEEP_AFTER", "ERL_THREAD_POOL_SIZE",
    "ERL_CONSOLE_MODE", "ERL_COMPILER_OPTIONS", "ERL_", "ERL_SOMETHING_OTP_30_ADDS",
    "ELIXIR_ERL_OPTIONS",
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_BIND_NOW", "LD_DEBUG", "LD_",
    "GLIBC_TUNABLES", "GCONV_PATH",
]  # fmt: skip
COMMANDS = [("server", ()), *((verb, ()) for verb in sorted(TASKS)), (RELEASE_NAME, ("seed",))]
SECRET_VALUE = "-eval 'os:cmd(\"id\")' -proto_dist inet_tcp"


def value_for(variable: str, value: str) -> str:
    """The loader acts on the launcher itself before main() (README.md): a
    non-empty LD_* value would make ld.so print on its own, so those get ""."""
    return "" if variable.startswith("LD_") else value


def assert_env_refused(tree: ReleaseTree, run, prog: str, variable: str) -> None:
    assert run.returncode == EXIT_ENV_REFUSED, run.stderr
    assert run.stderr.startswith(f"{prog}: {variable} is set: "), run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
    what, _, fix = run.stderr.partition("; ")
    assert what and fix.strip(), run.stderr
    assert SECRET_VALUE not in run.stderr and "os:cmd" not in run.stderr
    assert run.erlexec is None
    assert run.epmd is None
    assert tree.tmp_entries() == []


@pytest.mark.parametrize("variable", REFUSED)
@pytest.mark.parametrize("value", ["", SECRET_VALUE], ids=["empty", "value"])
def test_server_refuses_each_variable(tree: ReleaseTree, variable: str, value: str) -> None:
    run = tree.run("server", env={variable: value_for(variable, value)})
    assert_env_refused(tree, run, "server", variable)


@pytest.mark.parametrize(
    ("name", "args"), COMMANDS, ids=[f"{n}-{'-'.join(a)}" for n, a in COMMANDS]
)
@pytest.mark.parametrize(
    "variable", ["ERL_AFLAGS", "ERL_ZFLAGS", "ERL_LIBS", "ELIXIR_ERL_OPTIONS", "LD_PRELOAD"]
)
def test_every_command_refuses(
    tree: ReleaseTree, name: str, args: tuple[str, ...], variable: str
) -> None:
    run = tree.run(name, *args, env={variable: ""})
    assert_env_refused(tree, run, name, variable)


@pytest.mark.parametrize(
    ("variable", "says"),
    [
        ("ERL_AFLAGS", "erlexec would add its words to the VM's flags"),
        ("ERL_OTP27_FLAGS", "erlexec would add its words to the VM's flags"),
        ("ERL_LIBS", "the code server would load modules from its directories"),
        ("ERL_EPMD_PORT", "erlexec passes it on to the VM and epmd reads it"),
        ("ERL_INETRC", "the kernel would read host and name server settings"),
        ("ERL_CRASH_DUMP", "crash dump, which holds secrets"),
        ("ERL_MAX_PORTS", "read ERL_* variables as settings"),
        ("ELIXIR_ERL_OPTIONS", "only the stock start script read it"),
        ("LD_PRELOAD", "the dynamic loader would load or redirect code"),
        ("GLIBC_TUNABLES", "glibc would change its loader and allocator"),
        ("GCONV_PATH", "glibc would load character set converters"),
    ],
)
def test_the_message_says_what_the_variable_would_do(
    tree: ReleaseTree, variable: str, says: str
) -> None:
    run = tree.run("migrate", env={variable: value_for(variable, "x")})
    assert_env_refused(tree, run, "migrate", variable)
    assert says in run.stderr


def test_flag_variables_point_at_the_build_time_setting(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"ERL_FLAGS": "+S 1"})
    assert run.stderr == (
        "server: ERL_FLAGS is set: erlexec would add its words to the VM's flags, where they "
        "can change the distribution or the cookie or run code; unset it: VM flags are fixed "
        "at build time (launcher.vm_flags in build-image.yaml)\n"
    )


def test_the_rule_comes_before_every_other_check(tree: ReleaseTree) -> None:
    """No cookie, no certificates, no start_erl.data, no erlexec: still 77."""
    for pem in (tree.root / "dist-certs").iterdir():
        pem.unlink()
    (tree.root / "releases" / "start_erl.data").unlink()
    (tree.bindir / "erlexec").unlink()
    run = tree.run(
        "server",
        env={"RELEASE_COOKIE": None, "POD_IP": "-bad", "RELEASE_MODE": "x", "ERL_LIBS": ""},
    )
    assert_env_refused(tree, run, "server", "ERL_LIBS")


def test_command_resolution_comes_first(tree: ReleaseTree) -> None:
    run = tree.run(RELEASE_NAME, "eval", env={"ERL_AFLAGS": ""})
    assert run.returncode == EXIT_USAGE, run.stderr
    assert "'eval' does not exist" in run.stderr


def test_only_the_first_refused_variable_is_named(tree: ReleaseTree) -> None:
    # subprocess passes the environment in dict order.
    run = tree.run("server", env={"LD_PRELOAD": "", "ERL_FLAGS": "-s x"})
    assert_env_refused(tree, run, "server", "LD_PRELOAD")
    assert "ERL_FLAGS" not in run.stderr


@pytest.mark.parametrize(
    "variable",
    ["erl_aflags", "XERL_AFLAGS", "ERLANG_HOME", "ER_FLAGS", "LDFLAGS", "MY_LD_PRELOAD",
     "ELIXIR_ERL_OPTIONS_X", "GLIBC_TUNABLES2", "ERL"],
)  # fmt: skip
def test_names_outside_the_rule_pass_through(tree: ReleaseTree, variable: str) -> None:
    """The VM reads exact, upper-case names: nothing else is refused."""
    run = tree.run("server", env={variable: "x"})
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"][variable] == "x"


def test_crash_dump_seconds_is_the_one_allowed_erl_variable(tree: ReleaseTree) -> None:
    assert contract.ALLOWED_ENV_NAMES == ("ERL_CRASH_DUMP_SECONDS",)
    for name in ("server", "seed"):
        run = tree.run(name, env={"ERL_CRASH_DUMP_SECONDS": "-1"})
        assert run.returncode == 0, run.stderr
        assert run.erlexec["env"]["ERL_CRASH_DUMP_SECONDS"] == "-1"


def test_a_hostile_variable_name_is_echoed_on_one_printable_line(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"ERL_\x1b[31mX\nY": "1"})
    assert run.returncode == EXIT_ENV_REFUSED, run.stderr
    assert run.stderr.startswith("server: ERL_?[31mX?Y is set: "), run.stderr
    assert run.stderr.count("\n") == 1
    assert "\x1b" not in run.stderr
