"""A mutual-TLS cluster of the example image, and who may not join it.

Two nodes with the same cookie and certificates from the same CA must find
each other over TLS on the pinned port; a node with the right cookie but a
certificate from another CA (a stolen cookie) and a node speaking plain TCP
must not.  Everything is observed from outside: HTTP ``/nodes``, the
host's view of the containers' sockets and processes.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from runtime_support import (
    DIST_PORT,
    DOCKER_DNS,
    EPMD_PORT,
    HTTP_PORT,
    Node,
    NodeSpec,
    cluster_view,
    dist_view,
    never_within,
    node_name,
    plain_tcp_intruder,
    processes,
    tcp_sockets,
    wait_for,
)

pytestmark = pytest.mark.docker

# Long enough for several of the Peers process's once-a-second connection attempts.
JOIN_OBSERVATION = 8.0


def _peers(*ips: str) -> str:
    return ",".join(node_name(ip) for ip in ips)


def _lists(node: Node, other: str) -> bool:
    view = cluster_view(node.ip or "")
    return view is not None and other in view["nodes"]  # type: ignore[operator]


@pytest.fixture(scope="module")
def cluster(run_module_node: Callable[[NodeSpec], Node], example_image: str, cluster_certs: Path,
            node_ips: dict[str, str], cookie: str) -> tuple[Node, Node]:
    """n1 and n2, each dialling the other; n1 also dials both intruders' addresses."""
    n1_ip, n2_ip = node_ips["n1"], node_ips["n2"]
    intruders = (node_ips["intruder-tls"], node_ips["intruder-plain"])
    n1 = run_module_node(NodeSpec(example_image, n1_ip, cluster_certs / "n1",
                                  {"RELEASE_COOKIE": cookie, "POD_IP": n1_ip,
                                   "PEERS": _peers(n2_ip, *intruders)}))
    n2 = run_module_node(NodeSpec(example_image, n2_ip, cluster_certs / "n2",
                                  {"RELEASE_COOKIE": cookie, "POD_IP": n2_ip, "PEERS": _peers(n1_ip)}))
    n1.wait_serving()
    n2.wait_serving()
    wait_for("n1 and n2 to list each other in /nodes",
             lambda: _lists(n1, n2.name) and _lists(n2, n1.name),
             on_timeout=lambda: f"--- n1:\n{n1.logs()}\n--- n2:\n{n2.logs()}")
    return n1, n2


def test_two_nodes_with_one_ca_and_cookie_form_a_cluster(cluster: tuple[Node, Node]) -> None:
    n1, n2 = cluster
    assert cluster_view(n1.ip or "") == {"node": n1.name, "nodes": [n2.name]}
    assert cluster_view(n2.ip or "") == {"node": n2.name, "nodes": [n1.name]}


def test_distribution_uses_only_the_pinned_port(cluster: tuple[Node, Node]) -> None:
    n1, n2 = cluster
    sockets = tcp_sockets(n1.main_pid())
    listening = {s.local_port for s in sockets if s.state == "LISTEN" and s.local_ip != DOCKER_DNS}
    assert listening == {HTTP_PORT, DIST_PORT, EPMD_PORT}, f"unexpected listeners: {sorted(listening)}"
    dist_links = [s for s in sockets if s.state == "ESTABLISHED" and s.remote_ip.endswith(n2.ip or "")
                  and DIST_PORT in (s.local_port, s.remote_port)]
    assert dist_links, f"no connection to n2 on port {DIST_PORT}: {sockets}"


def _tls_client(ca: Path, cert_dir: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    if cert_dir is not None:
        context.load_cert_chain(cert_dir / "dist-cert.pem", cert_dir / "dist-key.pem")
    return context


def _handshake_outcome(ip: str, context: ssl.SSLContext) -> str:
    """'accepted' if the node keeps a verified TLS session open, else how it ended it.

    The client verifies the node's certificate against the cluster CA and
    its IP address; the node waits for the distribution handshake on an
    accepted session, so a read times out.
    """
    with socket.create_connection((ip, DIST_PORT), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname=ip) as tls:
                data = tls.recv(1)
        except TimeoutError:
            return "accepted"
        except (ssl.SSLError, ConnectionResetError) as exc:
            return f"refused: {exc}"
    return f"refused: closed after {data!r}"


def test_the_distribution_port_speaks_tls_and_demands_a_client_certificate(
        cluster: tuple[Node, Node], cluster_certs: Path, foreign_certs: Path) -> None:
    n1, _ = cluster
    ca = cluster_certs / "ca" / "ca-cert.pem"
    assert _handshake_outcome(n1.ip or "", _tls_client(ca, cluster_certs / "n3")) == "accepted"
    assert _handshake_outcome(n1.ip or "", _tls_client(ca, None)).startswith("refused")
    assert _handshake_outcome(n1.ip or "", _tls_client(ca, foreign_certs)).startswith("refused")


def test_a_stolen_cookie_without_a_cluster_certificate_does_not_join(
        cluster: tuple[Node, Node], run_node: Callable[[NodeSpec], Node], example_image: str,
        foreign_certs: Path, node_ips: dict[str, str], cookie: str) -> None:
    n1, n2 = cluster
    ip = node_ips["intruder-tls"]
    intruder = run_node(NodeSpec(example_image, ip, foreign_certs,
                                 {"RELEASE_COOKIE": cookie, "POD_IP": ip, "PEERS": _peers(n1.ip or "", n2.ip or "")}))
    intruder.wait_serving()

    def joined() -> bool:
        own = cluster_view(ip)
        return _lists(n1, intruder.name) or _lists(n2, intruder.name) or bool(own and own["nodes"])

    never_within("the intruder with a foreign certificate joining", joined, JOIN_OBSERVATION)
    assert cluster_view(ip) == {"node": intruder.name, "nodes": []}


def test_a_node_without_tls_does_not_join(
        cluster: tuple[Node, Node], run_node: Callable[[NodeSpec], Node], docker_client: docker.DockerClient,
        example_image: str, node_ips: dict[str, str], cookie: str) -> None:
    n1, n2 = cluster
    ip = node_ips["intruder-plain"]
    output = plain_tcp_intruder(run_node, docker_client, example_image, ip, cookie, (n1.name, n2.name))
    assert "pings=[pang]" in output, output
    assert not _lists(n1, f"intruder@{ip}") and not _lists(n2, f"intruder@{ip}")


def test_the_vm_itself_reports_tls_as_its_only_distribution(cluster: tuple[Node, Node]) -> None:
    """Asked from inside (HTTP /dist): -proto_dist, the listener and every connection are TLS."""
    n1, n2 = cluster
    for node, peer in ((n1, n2), (n2, n1)):
        assert dist_view(node.ip or "") == {"proto_dist": ["inet_tls"], "listen": ["tls"],
                                            "connections": {peer.name: "tls"}}


def test_the_cookie_is_in_no_process_command_line(cluster: tuple[Node, Node], cookie: str) -> None:
    n1, _ = cluster
    seen = processes(n1)
    names = {p.name for p in seen}
    assert "beam.smp" in names and "epmd" in names, f"expected the VM and epmd, saw {sorted(names)}"
    beam = next(p for p in seen if p.name == "beam.smp")
    assert b"inet_tls" in beam.cmdline, "read the wrong process: the VM runs with -proto_dist inet_tls"
    leaking = [p.name for p in seen if cookie.encode() in p.cmdline]
    assert not leaking, f"the cookie is in the command line of {leaking}"


def test_sigterm_stops_the_node_cleanly_without_zombies(
        run_node: Callable[[NodeSpec], Node], example_image: str, cluster_certs: Path,
        node_ips: dict[str, str], cookie: str) -> None:
    ip = node_ips["n4"]
    node = run_node(NodeSpec(example_image, ip, cluster_certs / "n4", {"RELEASE_COOKIE": cookie, "POD_IP": ip}))
    node.wait_serving()
    running = processes(node)
    assert [p.name for p in running if p.name == "epmd"] == ["epmd"], [p.name for p in running]
    zombies = [(p.pid, p.name) for p in running if p.state == "Z"]
    assert not zombies, f"zombie processes in the container: {zombies}"
    node.container.stop(timeout=10)  # SIGTERM, then SIGKILL (exit 137) after 10 s
    node.container.reload()
    state = node.container.attrs["State"]
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 0, False), node.logs()
