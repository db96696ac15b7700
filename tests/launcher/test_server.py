"""`server`: the exact argv and environment handed to erlexec, every variant."""

from __future__ import annotations

import pytest

from tests.launcher.conftest import (
    DIST_PORT,
    REL_VSN,
    RELEASE_NAME,
    STRONG_COOKIE,
    ReleaseTree,
    Variant,
)

VARIANTS = [
    Variant(require_tls=True, epmdless=False),
    Variant(require_tls=True, epmdless=True),
    Variant(require_tls=False, epmdless=False),
    Variant(require_tls=False, epmdless=True),
]


def expected_server_argv(
    tree: ReleaseTree,
    variant: Variant,
    *,
    sys_config: str,
    kernel_epmd_module: bool = True,
) -> list[str]:
    root = str(tree.root)
    rel = f"{root}/releases/{REL_VSN}"
    argv = [
        str(tree.bindir / "erlexec"),
        "-noshell", "-s", "elixir", "start_cli",
        # After the boot script, in order: Elixir's CLI, then READY=1 to systemd.
        "-s", "build_image_systemd", "ready",
        "-mode", "embedded",
        "-name", f"{RELEASE_NAME}@10.1.2.3",
        "-config", sys_config,
        "-boot", f"{rel}/start",
        "-boot_var", "RELEASE_LIB", f"{root}/lib",
        "-kernel", "inet_dist_listen_min", DIST_PORT, "inet_dist_listen_max", DIST_PORT,
    ]  # fmt: skip
    if variant.require_tls:
        argv += [
            "-proto_dist",
            "inet_tls",
            "-ssl_dist_optfile",
            f"{root}/dist/inet_tls.config",
        ]
    if variant.epmdless:
        if kernel_epmd_module:
            argv += ["-kernel", "epmd_module", "build_image_epmd"]
        else:
            argv += ["-epmd_module", "build_image_epmd"]
    # Distribution flags precede vm.args (first wins), -start_epmd follows it (last wins).
    return [*argv, "-args_file", f"{rel}/vm.args", "-start_epmd", "false", "-extra", "--no-halt"]


def expected_server_env(
    tree: ReleaseTree, home: str, sys_config: str
) -> dict[str, str]:
    return {
        **tree.release_env(),
        "RELEASE_SYS_CONFIG": sys_config,
        "RELEASE_BOOT_SCRIPT": "start",
        "RELEASE_COMMAND": "start",
        "RELEASE_PROG": "server",
        "RELEASE_DISTRIBUTION": "name",
        "RELEASE_NODE": f"{RELEASE_NAME}@10.1.2.3",
        "DIST_PORT": DIST_PORT,
        "PHX_SERVER": "true",
        "HOME": home,
    }


@pytest.mark.parametrize(
    "variant",
    VARIANTS,
    ids=lambda v: f"tls{int(v.require_tls)}-epmdless{int(v.epmdless)}",
)
def test_server_hands_erlexec_the_exact_argv_and_env(
    tree_factory, variant: Variant
) -> None:
    tree = tree_factory(variant)
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    sys_config = f"{tree.root}/releases/{REL_VSN}/sys"
    home = run.erlexec["env"]["HOME"]
    assert run.erlexec["argv"] == expected_server_argv(
        tree, variant, sys_config=sys_config
    )
    assert run.erlexec["env"] == expected_server_env(tree, home, sys_config)


@pytest.mark.parametrize("variant", VARIANTS[:2], ids=["epmd", "epmdless"])
def test_epmd_is_started_natively_only_without_epmdless(
    tree_factory, variant: Variant
) -> None:
    tree = tree_factory(variant)
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    if variant.epmdless:
        assert run.epmd is None
    else:
        assert run.epmd["argv"] == [str(tree.bindir / "epmd"), "-daemon"]
        assert "RELEASE_COOKIE" not in run.epmd["env"]


def test_otp_before_27_gets_the_epmd_module_flag(tree_factory) -> None:
    variant = Variant(require_tls=True, epmdless=True)
    tree = tree_factory(variant, erts_vsn="13.1.5")
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    sys_config = f"{tree.root}/releases/{REL_VSN}/sys"
    assert run.erlexec["argv"] == expected_server_argv(
        tree, variant, sys_config=sys_config, kernel_epmd_module=False
    )


def test_cookie_reaches_the_vm_through_a_private_file_only(tree: ReleaseTree) -> None:
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert not any(STRONG_COOKIE in arg for arg in run.erlexec["argv"])
    assert "-setcookie" not in run.erlexec["argv"]
    assert STRONG_COOKIE not in run.erlexec["env"].values()
    assert run.erlexec["cookie"] == STRONG_COOKIE
    assert run.erlexec["cookie_mode"] == 0o400
    assert run.erlexec["home_mode"] == 0o700
    home = run.erlexec["env"]["HOME"]
    assert home.startswith(f"{tree.release_tmp}/{RELEASE_NAME}-")
    assert tree.tmp_entries() == [home.rsplit("/", 1)[1]]


def test_runtime_config_is_copied_to_release_tmp(tree_factory) -> None:
    tree = tree_factory(runtime_config=True)
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    home = run.erlexec["env"]["HOME"]
    copy = f"{home}/sys"
    assert run.erlexec["env"]["RELEASE_SYS_CONFIG"] == copy
    argv = run.erlexec["argv"]
    assert argv[argv.index("-config") + 1] == copy
    assert run.erlexec["sys_config"] == (tree.rel_dir / "sys.config").read_text()


def test_start_is_an_alias_of_server(tree: ReleaseTree) -> None:
    run = tree.run("start")
    assert run.returncode == 0, run.stderr
    assert run.erlexec["argv"][-2:] == ["-extra", "--no-halt"]
    assert run.erlexec["env"]["RELEASE_DISTRIBUTION"] == "name"


def test_subcommand_form_defaults_to_server(tree: ReleaseTree) -> None:
    run = tree.run(RELEASE_NAME)
    assert run.returncode == 0, run.stderr
    assert run.erlexec["argv"][-2:] == ["-extra", "--no-halt"]
    explicit = tree.run(RELEASE_NAME, "server")
    assert explicit.returncode == 0, explicit.stderr
    assert explicit.erlexec["argv"] == run.erlexec["argv"]


def test_caller_settings_that_the_scripts_honour_are_kept(tree: ReleaseTree) -> None:
    run = tree.run(
        "server", env={"RELEASE_MODE": "interactive", "ERL_CRASH_DUMP_SECONDS": "5"}
    )
    assert run.returncode == 0, run.stderr
    argv = run.erlexec["argv"]
    assert argv[argv.index("-mode") + 1] == "interactive"
    assert run.erlexec["env"]["RELEASE_MODE"] == "interactive"
    assert run.erlexec["env"]["ERL_CRASH_DUMP_SECONDS"] == "5"


def test_release_tmp_defaults_to_root_tmp(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"RELEASE_TMP": None})
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"]["RELEASE_TMP"] == f"{tree.root}/tmp"
    assert run.erlexec["env"]["HOME"].startswith(f"{tree.root}/tmp/{RELEASE_NAME}-")


def test_missing_pod_ip_warns_and_uses_loopback(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"POD_IP": None})
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith("server: POD_IP is not set; using 127.0.0.1")
    assert run.stderr.count("\n") == 1
    argv = run.erlexec["argv"]
    assert argv[argv.index("-name") + 1] == f"{RELEASE_NAME}@127.0.0.1"
    assert run.erlexec["env"]["RELEASE_NODE"] == f"{RELEASE_NAME}@127.0.0.1"


@pytest.mark.parametrize(
    "cookie", ["short", RELEASE_NAME], ids=["short", "release-name"]
)
def test_weak_cookie_boots_only_with_the_override_and_warns(
    tree: ReleaseTree, cookie: str
) -> None:
    run = tree.run(
        "server", env={"RELEASE_COOKIE": cookie, "DIST_ALLOW_WEAK_COOKIE": "1"}
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr.startswith("server: WARNING: RELEASE_COOKIE ")
    assert "DIST_ALLOW_WEAK_COOKIE=1" in run.stderr
    assert run.erlexec["cookie"] == cookie


def test_minimum_cookie_length_can_be_changed(tree: ReleaseTree) -> None:
    run = tree.run(
        "server", env={"RELEASE_COOKIE": "0123456789", "DIST_COOKIE_MIN_LEN": "10"}
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.erlexec["cookie"] == "0123456789"


def test_no_tls_build_boots_without_certificates(tree_factory) -> None:
    tree = tree_factory(Variant(require_tls=False))
    for pem in (tree.root / "dist-certs").iterdir():
        pem.unlink()
    (tree.root / "dist" / "inet_tls.config").unlink()
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    assert "-proto_dist" not in run.erlexec["argv"]
