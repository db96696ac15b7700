"""Fixtures for the confinement tests: one private network, one CA, the example's profile.

Containers carry the run's label (``hygiene.LABELS``) and are removed by the
test that starts them (``confine_support.removing``); the network by its fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder import config as config_module
from builder import contract, seccomp
from builder.certs import write_dist_certs
from confine_support import profile_json
from runtime_support import PrivateNetwork, private_network


@pytest.fixture(scope="module")
def confine_network(docker_client: docker.DockerClient) -> Iterator[PrivateNetwork]:
    with private_network(docker_client) as network:
        yield network


@pytest.fixture(scope="module")
def node_ips(confine_network: PrivateNetwork) -> list[str]:
    return [confine_network.allocate(), confine_network.allocate()]


@pytest.fixture(scope="module")
def ip_certs(tmp_path_factory: pytest.TempPathFactory, node_ips: list[str]) -> Path:
    """A CA and one set per node, in ``<dir>/<ip>``, readable by the container user."""
    root = tmp_path_factory.mktemp("confine-certs")
    write_dist_certs(root, [f"{ip}={ip}" for ip in node_ips], owner=(contract.RUN_UID, contract.RUN_GID))
    return root


@pytest.fixture(scope="session")
def example_profile(example_config: config_module.Config) -> str:
    """The example image's seccomp profile, as the JSON text Docker takes."""
    return profile_json(seccomp.profile_for(example_config))
