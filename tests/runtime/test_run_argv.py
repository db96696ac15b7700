"""Unit tests for builder.run: the production ``docker run`` line."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from builder import contract
from builder.certs import write_dist_certs
from builder.errors import CertificateError, ConfigError, UsageError
from builder.run import Network, docker_run_argv, docker_run_env

COOKIE = "a-cookie-value-that-must-never-be-in-argv-0123456789"


@pytest.fixture
def node_certs(tmp_path: Path) -> Path:
    """A node's set the container user can read: made world-readable, as giving it away needs root."""
    write_dist_certs(tmp_path / "certs", ["node-1"])
    node = tmp_path / "certs" / "node-1"
    for pem in node.iterdir():
        pem.chmod(0o644)
    return node


def _pairs(argv: list[str]) -> list[tuple[str, str]]:
    return list(pairwise(argv))


def test_runs_least_privileged(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs)
    assert argv[:3] == ["docker", "run", "--rm"]
    assert "--read-only" in argv
    pairs = _pairs(argv)
    assert ("--cap-drop", "ALL") in pairs
    assert ("--security-opt", "no-new-privileges") in pairs
    assert ("--user", contract.RUN_USER) in pairs
    assert ("--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=64m") in pairs
    assert argv[-1] == "hello:1"


def test_mounts_the_node_certs_read_only_at_the_image_mount_point(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs)
    mount = argv[argv.index("--mount") + 1]
    assert mount == f"type=bind,source={node_certs.resolve()},target=/app/dist-certs,readonly"


def test_cookie_goes_by_name_only(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs, extra_env={"PORT": "4000"})
    assert ("-e", "RELEASE_COOKIE") in _pairs(argv)
    assert not any(arg.startswith("RELEASE_COOKIE=") for arg in argv)


def test_cookie_env_copies_the_named_secret_into_release_cookie() -> None:
    env = docker_run_env({"PATH": "/usr/bin", "MY_SECRET": COOKIE}, cookie_env="MY_SECRET")
    assert env == {"PATH": "/usr/bin", "MY_SECRET": COOKIE, "RELEASE_COOKIE": COOKIE}


@pytest.mark.parametrize("environ", [{}, {"RELEASE_COOKIE": ""}])
def test_missing_or_empty_cookie_is_refused_before_docker_runs(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="RELEASE_COOKIE") as refused:
        docker_run_env(environ)
    assert "export RELEASE_COOKIE" in (refused.value.hint or "")


def test_network_sets_the_address_and_pod_ip(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs, network=Network("dist-net", "172.30.0.10"), name="n1")
    pairs = _pairs(argv)
    assert ("--network", "dist-net") in pairs
    assert ("--ip", "172.30.0.10") in pairs
    assert ("-e", "POD_IP=172.30.0.10") in pairs
    assert ("--name", "n1") in pairs


def test_publish_binds_loopback_only(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs, publish=8080, http_port=4001)
    assert ("-p", "127.0.0.1:8080:4001") in _pairs(argv)


def test_command_follows_the_image(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs, command=("check",))
    assert argv[-2:] == ["hello:1", "check"]


def test_extra_env_is_sorted_and_validated(node_certs: Path) -> None:
    argv = docker_run_argv("hello:1", node_certs, extra_env={"PEERS": "a@x", "PORT": "4000"})
    assert argv.index("PEERS=a@x") < argv.index("PORT=4000")
    with pytest.raises(UsageError, match="environment variable name"):
        docker_run_argv("hello:1", node_certs, extra_env={"BAD NAME": "x"})


def test_bad_ip_and_port_are_usage_errors(node_certs: Path) -> None:
    with pytest.raises(UsageError, match="not an IP address"):
        Network("n", "172.30.0")
    with pytest.raises(UsageError, match="out of range"):
        docker_run_argv("hello:1", node_certs, publish=70000)


def test_certs_dir_missing_a_file_names_it(node_certs: Path) -> None:
    (node_certs / "dist-key.pem").unlink()
    with pytest.raises(CertificateError, match=r"dist-key\.pem") as refused:
        docker_run_argv("hello:1", node_certs)
    assert "dist-certs" in (refused.value.hint or "")


def test_key_the_container_user_cannot_read_is_refused(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "certs", ["node-1"])  # the key stays 0600, owned by whoever runs the test
    with pytest.raises(CertificateError, match=r"dist-key\.pem.*cannot be read") as refused:
        docker_run_argv("hello:1", tmp_path / "certs" / "node-1")
    assert "as root with `build-image dist-certs`" in (refused.value.hint or "")
