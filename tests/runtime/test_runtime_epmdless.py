"""The EPMD-less build: no epmd, nothing on 4369, the TLS cluster still forms, its build-time VM flags reach the VM."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from builder import config as config_module
from runtime_support import (
    DIST_PORT,
    DOCKER_DNS,
    EPMD_PORT,
    HTTP_PORT,
    Node,
    NodeSpec,
    cluster_view,
    node_name,
    processes,
    tcp_sockets,
    wait_for,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def epmdless_cluster(run_module_node: Callable[[NodeSpec], Node], epmdless_image: str, cluster_certs: Path,
                     node_ips: dict[str, str], cookie: str) -> tuple[Node, Node]:
    ips = node_ips["n7"], node_ips["n8"]
    nodes = tuple(
        run_module_node(NodeSpec(epmdless_image, ip, cluster_certs / name,
                                 {"RELEASE_COOKIE": cookie, "POD_IP": ip, "PEERS": node_name(other)}))
        for name, ip, other in (("n7", ips[0], ips[1]), ("n8", ips[1], ips[0])))
    for node in nodes:
        node.wait_serving()
    first, second = nodes
    wait_for("the EPMD-less nodes to list each other",
             lambda: (cluster_view(ips[0]) or {}).get("nodes") == [second.name]
             and (cluster_view(ips[1]) or {}).get("nodes") == [first.name],
             on_timeout=lambda: f"--- n7:\n{first.logs()}\n--- n8:\n{second.logs()}")
    return first, second


def test_the_epmdless_tls_cluster_forms(epmdless_cluster: tuple[Node, Node]) -> None:
    first, second = epmdless_cluster
    assert cluster_view(first.ip or "") == {"node": first.name, "nodes": [second.name]}
    assert cluster_view(second.ip or "") == {"node": second.name, "nodes": [first.name]}


def test_nothing_listens_on_the_epmd_port(epmdless_cluster: tuple[Node, Node]) -> None:
    for node in epmdless_cluster:
        listening = {s.local_port for s in tcp_sockets(node.main_pid())
                     if s.state == "LISTEN" and s.local_ip != DOCKER_DNS}
        assert EPMD_PORT not in listening
        assert listening == {HTTP_PORT, DIST_PORT}, f"unexpected listeners: {sorted(listening)}"


def test_no_epmd_process_runs(epmdless_cluster: tuple[Node, Node]) -> None:
    for node in epmdless_cluster:
        names = [p.name for p in processes(node)]
        assert "beam.smp" in names and "epmd" not in names, names


def test_the_build_time_vm_flags_reach_the_vm(epmdless_cluster: tuple[Node, Node],
                                              epmdless_config: config_module.Config) -> None:
    """launcher.vm_flags is compiled into the launcher: erlexec hands them to beam.smp as its own flags."""
    assert epmdless_config.launcher.vm_flags == ("+S", "2:2", "+sbwt", "none")
    for node in epmdless_cluster:
        beam = next(p for p in processes(node) if p.name == "beam.smp")
        words = beam.cmdline.split(b"\0")
        assert b"-S" in words and words[words.index(b"-S") + 1] == b"2:2", words
        assert b"-sbwt" in words and words[words.index(b"-sbwt") + 1] == b"none", words
