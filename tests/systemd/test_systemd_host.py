"""The example under real systemd (252, PID 1 in a container), installed as the README says.

One ``build-image systemd`` output, two hosts on a private network, each with
its node's credentials; the service is socket-activated, ``Type=notify``,
sandboxed as the unit says.  What is not asserted: ``SocketBindAllow=``
(this machine's cgroup v1 has no BPF socket-bind hooks; systemd scores the
setting but cannot enforce it here).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder import cli
from builder.certs import write_dist_certs
from runtime_support import PrivateNetwork, cluster_view, dist_view, http_get, node_name, private_network, wait_for
from systemd_host import ensure_host_image
from systemd_support import (
    ROOT_DIRECTORY,
    SERVICE,
    SOCKET,
    UNIT_DIR,
    SystemdHost,
    configure,
    install_tar,
    removed,
    start_host,
)

pytestmark = [pytest.mark.docker, pytest.mark.tools("mmdebstrap", "root")]

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
TARGET = 1.5
NOT_READY_WINDOW = 8
WATCHDOG_SECONDS = 3


@pytest.fixture(scope="module")
def host_image(docker_client: docker.DockerClient) -> str:
    """The systemd test host, bootstrapped once and then reused by its content tag."""
    return ensure_host_image(docker_client)


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory, example_image: str) -> Path:
    """What the command writes for the example, through the real CLI."""
    out = tmp_path_factory.mktemp("systemd") / "out"
    code = cli.main(["systemd", str(out), "-c", str(EXAMPLE_CONFIG), "--image", example_image])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def network(docker_client: docker.DockerClient) -> Iterator[PrivateNetwork]:
    with private_network(docker_client) as made:
        yield made


@pytest.fixture(scope="module")
def cookie() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture(scope="module")
def hosts(docker_client: docker.DockerClient, host_image: str, outdir: Path, network: PrivateNetwork,
          cookie: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SystemdHost, SystemdHost]]:
    """Two booted hosts with the release installed and configured as peers; nothing started."""
    ips = [network.allocate(), network.allocate()]
    certs = tmp_path_factory.mktemp("systemd-certs")
    write_dist_certs(certs, [f"{ip}={ip}" for ip in ips])
    installed = install_tar(outdir)
    with removed([]) as started:
        for ip in ips:
            started.append(start_host(docker_client, host_image, network, ip, installed))
        first, second = started
        configure(first, cookie, certs / first.ip, [second.ip])
        configure(second, cookie, certs / second.ip, [first.ip])
        # The second root is read-only, as on read-only media: systemd must find its mount points made.
        second.must(f"mount --bind {ROOT_DIRECTORY} {ROOT_DIRECTORY} && mount -o remount,bind,ro {ROOT_DIRECTORY}")
        yield first, second


def test_the_command_writes_the_root_and_the_units(outdir: Path) -> None:
    assert sorted(p.name for p in outdir.iterdir()) == ["hello.service", "hello.socket", "rootfs"]
    assert (outdir / "rootfs/app/bin/server").stat().st_mode & 0o111
    assert (outdir / "rootfs/app/dist-certs").is_dir()


def test_the_socket_alone_leaves_the_service_inactive_and_a_request_starts_it(
        hosts: tuple[SystemdHost, SystemdHost]) -> None:
    host, _ = hosts
    host.must(f"systemctl start {SOCKET}")
    assert host.state(SOCKET) == "active"
    assert host.state(SERVICE) == "inactive"
    assert host.curl() == "200", host.journal()
    assert host.state(SERVICE) == "active"
    assert "serving HTTP on the socket systemd passed" in host.journal()


def test_stopping_the_service_leaves_the_socket_listening_and_the_next_request_starts_it_again(
        hosts: tuple[SystemdHost, SystemdHost]) -> None:
    host, _ = hosts
    host.must(f"systemctl start {SOCKET}")
    assert host.curl() == "200", host.journal()
    first_pid = host.must(f"systemctl show -P MainPID {SERVICE}").strip()
    host.must(f"systemctl stop {SERVICE}")
    assert host.state(SERVICE) == "inactive"
    assert host.state(SOCKET) == "active"
    assert host.curl() == "200", host.journal()
    assert host.state(SERVICE) == "active"
    assert host.must(f"systemctl show -P MainPID {SERVICE}").strip() != first_pid


def test_the_service_is_active_only_after_ready(hosts: tuple[SystemdHost, SystemdHost]) -> None:
    """Type=notify: without NOTIFY_SOCKET (so READY=1 never comes) the release boots and serves, and the
    service stays activating; with it, the same start becomes active."""
    host, _ = hosts
    host.must(f"systemctl stop {SERVICE}")
    dropin = f"{UNIT_DIR}/{SERVICE}.d/zz-no-ready.conf"
    host.put({dropin: (b"[Service]\nUnsetEnvironment=NOTIFY_SOCKET\nTimeoutStartSec=60\n", 0o644)})
    try:
        host.must(f"systemctl daemon-reload && systemctl start --no-block {SERVICE}")
        assert host.curl() == "200", host.journal()
        for _ in range(NOT_READY_WINDOW):
            assert host.state(SERVICE) == "activating", host.journal()
            host.sh("sleep 1")
    finally:
        host.must(f"rm -f {dropin} && systemctl daemon-reload && systemctl stop {SERVICE}")
    host.must(f"systemctl start {SERVICE}")
    assert host.state(SERVICE) == "active"


def test_with_a_watchdog_the_release_keeps_pinging_it(hosts: tuple[SystemdHost, SystemdHost]) -> None:
    """WatchdogSec=3s: systemd would kill a silent release after 3 s; it stays up, pinged (WATCHDOG=1)."""
    host, _ = hosts
    dropin = f"{UNIT_DIR}/{SERVICE}.d/zz-watchdog.conf"
    host.put({dropin: (b"[Service]\nWatchdogSec=3s\n", 0o644)})
    try:
        host.must(f"systemctl daemon-reload && systemctl restart {SERVICE}")
        pid, first = _watchdog(host)
        host.sh(f"sleep {3 * WATCHDOG_SECONDS}")
        later_pid, later = _watchdog(host)
        assert host.state(SERVICE) == "active" and later_pid == pid, host.journal()
        assert later > first, "no WATCHDOG=1 arrived"
        assert "watchdog timeout" not in host.journal().lower()
    finally:
        host.must(f"rm -f {dropin} && systemctl daemon-reload && systemctl restart {SERVICE}")


def _watchdog(host: SystemdHost) -> tuple[str, int]:
    """The service's main PID and when systemd last heard WATCHDOG=1 (µs since boot)."""
    pid = host.must(f"systemctl show -P MainPID {SERVICE}").strip()
    stamp = host.must(f"systemctl show -P WatchdogTimestampMonotonic {SERVICE}").strip()
    return pid, int(stamp or 0)


def test_the_cookie_is_in_no_process_command_line_or_environment(
        hosts: tuple[SystemdHost, SystemdHost], cookie: str) -> None:
    host, _ = hosts
    host.must(f"systemctl start {SERVICE}")
    programs = host.must("cat /proc/[0-9]*/comm").split()
    assert "beam.smp" in programs and "epmd" in programs, programs
    # grep reads the pattern from the credential's source file, so its own command line holds no cookie.
    found = host.sh("grep -lsF -f /etc/hello/cookie /proc/[0-9]*/cmdline /proc/[0-9]*/environ")
    assert found.code == 1 and found.output == "", found.output
    assert cookie not in host.must(f"systemctl show {SERVICE}")


def test_the_unit_scores_within_the_target_under_systemd_252(hosts: tuple[SystemdHost, SystemdHost]) -> None:
    host, _ = hosts
    output = host.must(f"systemd-analyze security --offline=true --no-pager {UNIT_DIR}/{SERVICE}")
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", output)
    assert found and float(found[1]) <= TARGET, output


def test_two_nodes_under_systemd_form_the_mutual_tls_cluster(hosts: tuple[SystemdHost, SystemdHost]) -> None:
    """Each node named by its drop-in (POD_IP, PEERS); the second one's root is read-only."""
    first, second = hosts
    assert second.sh(f"touch {ROOT_DIRECTORY}/written").code != 0
    for host in hosts:
        host.must(f"systemctl start {SOCKET}")
        reply = wait_for(f"{host.ip} to answer", lambda host=host: http_get(host.ip, "/health", timeout=30))
        assert reply.status == 200, host.journal()

    def lists_each_other() -> bool:
        views = [cluster_view(first.ip), cluster_view(second.ip)]
        return all(view is not None for view in views) and \
            node_name(second.ip) in views[0]["nodes"] and node_name(first.ip) in views[1]["nodes"]  # type: ignore[index, operator]

    wait_for("the two nodes to list each other", lists_each_other, on_timeout=lambda: first.journal())
    for host, peer in ((first, second), (second, first)):
        assert dist_view(host.ip) == {"proto_dist": ["inet_tls"], "listen": ["tls"],
                                      "connections": {node_name(peer.ip): "tls"}}

