"""Fixtures for the runtime tests: one private network, one CA, real containers.

Every container and the network are removed at the end, also when a test
fails; both carry the tests' label (``hygiene.LABELS``), so the run fails
if one is left, and a crashed run can be cleaned as ``tests/hygiene.py`` says.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from builder import contract
from builder.certs import write_dist_certs, write_foreign_node
from runtime_support import (
    Node,
    NodeSpec,
    PrivateNetwork,
    private_network,
    started_containers,
)

CONTAINER_USER = (contract.RUN_UID, contract.RUN_GID)
CLUSTER_NODES = ("n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8")
INTRUDERS = ("intruder-tls", "intruder-plain")


@pytest.fixture(scope="session")
def dist_network(docker_client: docker.DockerClient) -> Iterator[PrivateNetwork]:
    with private_network(docker_client) as network:
        yield network


@pytest.fixture(scope="session")
def node_ips(dist_network: PrivateNetwork) -> dict[str, str]:
    """A fixed address per certificate set, known before any container starts."""
    return {name: dist_network.allocate() for name in CLUSTER_NODES + INTRUDERS}


@pytest.fixture(scope="session")
def cluster_certs(tmp_path_factory: pytest.TempPathFactory, node_ips: dict[str, str]) -> Path:
    """One development CA and a certificate set per node, readable by the container user."""
    root = tmp_path_factory.mktemp("dist-certs") / "cluster"
    write_dist_certs(root, [f"{name}={node_ips[name]}" for name in CLUSTER_NODES], owner=CONTAINER_USER)
    return root


@pytest.fixture(scope="session")
def foreign_certs(tmp_path_factory: pytest.TempPathFactory, cluster_certs: Path,
                  node_ips: dict[str, str]) -> Path:
    """An intruder's set: trusts the cluster CA, signed by another CA."""
    root = tmp_path_factory.mktemp("foreign-certs") / "intruder"
    write_foreign_node(root, f"x={node_ips['intruder-tls']}", cluster_certs / "ca" / "ca-cert.pem",
                       owner=CONTAINER_USER)
    return root / "x"


@pytest.fixture(scope="session")
def cookie() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def run_node(docker_client: docker.DockerClient, dist_network: PrivateNetwork) -> Iterator[Callable[[NodeSpec], Node]]:
    """Start containers for one test; all are removed afterwards, pass or fail."""
    with started_containers(docker_client, dist_network) as run:
        yield run


@pytest.fixture(scope="module")
def run_module_node(docker_client: docker.DockerClient,
                    dist_network: PrivateNetwork) -> Iterator[Callable[[NodeSpec], Node]]:
    """Like ``run_node`` for containers a module's tests share (a cluster)."""
    with started_containers(docker_client, dist_network) as run:
        yield run
