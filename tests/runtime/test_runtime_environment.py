"""An attacker who controls the container's environment, but not its command or files.

That is a ConfigMap in ``envFrom``, ``kubectl set env`` or ``docker run -e``.
Whatever reaches the VM as flags or code paths is decided at build time, so
every variable erlexec, the VM or the loader reads as flags or code makes
the launcher refuse to start (its own exit code, one line naming the
variable, nothing started), for the server and for task verbs alike; and
what the environment may still carry cannot make the node distribute over
anything but mutual TLS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from runtime_support import (
    EXIT_ENVIRONMENT,
    Node,
    NodeSpec,
    cluster_view,
    dist_view,
    plain_tcp_intruder,
)

pytestmark = pytest.mark.docker

# Each variable with the value an attacker would give it (what it would do, unrefused).
REFUSED = {
    "ERL_AFLAGS": "-proto_dist inet_tcp",  # plain-TCP distribution: a cookie alone joins
    "ERL_FLAGS": "-setcookie stolen-but-long-enough-0123456789abcdef",  # cookie check bypassed
    "ERL_ZFLAGS": "-kernel inet_dist_listen_min 9000 inet_dist_listen_max 9000",  # port moved
    "ERL_OTP27_FLAGS": "-kernel epmd_module erl_epmd",  # resolver replaced
    "ERL_LIBS": "/tmp",  # code path
    "ERL_INETRC": "/tmp/inetrc",  # resolver configuration
    "ERL_EPMD_PORT": "4370",  # registration elsewhere
    "ERL_DIST_PORT": "9000",  # erlexec: -erl_epmd_port, no epmd
    "ELIXIR_ERL_OPTIONS": "-proto_dist inet_tcp",  # read by nothing here: the operator must learn that
    "LD_LIBRARY_PATH": "/tmp",  # loader: libraries from elsewhere
    "GLIBC_TUNABLES": "glibc.malloc.check=3",  # loader tunables
}


def _refused_by_environment(node: Node, command: str, variable: str) -> str:
    status = node.wait_exit()
    logs = node.logs()
    assert status == EXIT_ENVIRONMENT, f"exit {status}, expected {EXIT_ENVIRONMENT}:\n{logs}"
    assert node.stdout() == "", f"something ran:\n{logs}"
    lines = node.stderr().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{command}: {variable} "), lines
    return lines[0]


@pytest.mark.parametrize("variable", sorted(REFUSED))
def test_the_server_refuses_each_vm_reading_variable(
        run_node: Callable[[NodeSpec], Node], example_image: str, cluster_certs: Path,
        node_ips: dict[str, str], cookie: str, variable: str) -> None:
    ip = node_ips["n5"]
    node = run_node(NodeSpec(example_image, ip, cluster_certs / "n5",
                             {"RELEASE_COOKIE": cookie, "POD_IP": ip, variable: REFUSED[variable]}))
    line = _refused_by_environment(node, "server", variable)
    assert REFUSED[variable] not in line, "the refusal echoes the value"


def test_an_empty_value_is_refused_too(run_node: Callable[[NodeSpec], Node], example_image: str,
                                       cluster_certs: Path, node_ips: dict[str, str], cookie: str) -> None:
    ip = node_ips["n5"]
    node = run_node(NodeSpec(example_image, ip, cluster_certs / "n5",
                             {"RELEASE_COOKIE": cookie, "POD_IP": ip, "ERL_AFLAGS": ""}))
    _refused_by_environment(node, "server", "ERL_AFLAGS")


@pytest.mark.parametrize("variable", ["ERL_AFLAGS", "ERL_FLAGS", "ERL_ZFLAGS", "ERL_OTP27_FLAGS"])
def test_a_task_verb_runs_no_code_from_the_environment(run_node: Callable[[NodeSpec], Node],
                                                       example_image: str, variable: str) -> None:
    evil = "-eval 'io:format(\"PWNED~n\")'"
    node = run_node(NodeSpec(example_image, None, None, {variable: evil}, entrypoint=["/app/bin/check"]))
    _refused_by_environment(node, "check", variable)
    assert "PWNED" not in node.logs()


# What the environment may still carry, or what the launcher overwrites: set
# by an attacker hoping to loosen the node, none of it may change distribution.
ALLOWED_BUT_HOSTILE = {
    "interactive-mode": {"RELEASE_MODE": "interactive"},
    "overwritten-release-vars": {"HOME": "/tmp", "RELEASE_DISTRIBUTION": "none", "RELEASE_NODE": "x@127.0.0.1",
                                 "RELEASE_VM_ARGS": "/tmp/vm.args", "RELEASE_SYS_CONFIG": "/tmp/sys",
                                 "RELEASE_BOOT_SCRIPT": "start_clean", "ROOTDIR": "/tmp", "BINDIR": "/tmp",
                                 "EMU": "evil", "PROGNAME": "sh"},
    "weak-cookie-knobs": {"DIST_ALLOW_WEAK_COOKIE": "1", "DIST_COOKIE_MIN_LEN": "1",
                          "ERL_CRASH_DUMP_SECONDS": "10", "PHX_SERVER": "false"},
}


@pytest.mark.parametrize("environment", sorted(ALLOWED_BUT_HOSTILE))
def test_no_allowed_environment_lets_a_cookie_holder_in(
        run_node: Callable[[NodeSpec], Node], docker_client: docker.DockerClient, example_image: str,
        cluster_certs: Path, node_ips: dict[str, str], cookie: str, environment: str) -> None:
    ip = node_ips["n7"]
    server = run_node(NodeSpec(example_image, ip, cluster_certs / "n7",
                               {"RELEASE_COOKIE": cookie, "POD_IP": ip, **ALLOWED_BUT_HOSTILE[environment]}))
    server.wait_serving()
    assert dist_view(ip) == {"proto_dist": ["inet_tls"], "listen": ["tls"], "connections": {}}
    intruder_ip = node_ips["intruder-plain"]
    output = plain_tcp_intruder(run_node, docker_client, example_image, intruder_ip, cookie, (server.name,))
    assert "pings=[pang]" in output, output
    assert cluster_view(ip) == {"node": server.name, "nodes": []}
