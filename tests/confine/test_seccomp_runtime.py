"""The example image under its generated seccomp profile: the whole workload, and nothing more.

The same workload the allowlist was observed under (``confine_support.workload``)
runs with the profile in force: two nodes boot, serve, form the mutual-TLS
cluster and stop on Docker's SIGTERM with exit 0; each verb exits as it should.
A second run of the observation proves the checked-in list still covers
what the image does (when it fails, regenerate the list: see README.md here).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from builder import config as config_module
from builder import contract, seccomp
from builder.run import Network, docker_run_argv
from confine_support import (
    VERBS,
    Confined,
    calls_in,
    removing,
    sigterm_traced,
    strace_tools,
    trace_directory,
    traced,
    workload,
)
from hygiene import LABEL, RUN
from runtime_support import Node, PrivateNetwork

pytestmark = pytest.mark.docker


def _stop(node: Node) -> int:
    node.container.stop(timeout=30)  # Docker's SIGTERM to PID 1, the VM
    return int(node.wait_exit())


@pytest.mark.parametrize("variant", ["example_image", "epmdless_image"])
def test_the_example_serves_clusters_runs_its_verbs_and_stops_under_the_profile(
        docker_client: docker.DockerClient, confine_network: PrivateNetwork, request: pytest.FixtureRequest,
        variant: str, ip_certs: Path, node_ips: list[str], example_profile: str) -> None:
    """With epmd (the example) and without (EPMD-less): one OTP pin, one profile."""
    image = request.getfixturevalue(variant)

    def confine(program: str, env: Mapping[str, str], mounts: Sequence[Mount]) -> Confined:
        return Confined(seccomp=example_profile, mounts=mounts, entrypoint=[program], env=env)

    outcome = workload(docker_client, confine_network, image, ip_certs, node_ips,
                       secrets.token_urlsafe(32), confine, _stop)
    assert outcome.exits == {**{f"server@{ip}": 0 for ip in node_ips}, **VERBS}, outcome.exits
    for ip in node_ips:
        assert outcome.nodes[ip] == {"node": f"hello@{ip}", "nodes": [f"hello@{o}" for o in node_ips if o != ip]}
        assert "inet_tls" in str(outcome.dist[ip]), outcome.dist[ip]


@pytest.mark.tools("strace", "ldd")
def test_every_call_observed_under_the_workload_is_in_the_checked_in_list(
        docker_client: docker.DockerClient, confine_network: PrivateNetwork, example_image: str,
        ip_certs: Path, node_ips: list[str], example_config: config_module.Config, tmp_path: Path) -> None:
    tools = strace_tools(tmp_path / "tools")
    traces = trace_directory(tmp_path / "traces")

    def confine(program: str, env: Mapping[str, str], mounts: Sequence[Mount]) -> Confined:
        return traced(tools, traces, program, env, mounts)

    outcome = workload(docker_client, confine_network, example_image, ip_certs, node_ips,
                       secrets.token_urlsafe(32), confine, lambda node: sigterm_traced(node, traces))
    assert outcome.exits == {**{f"server@{ip}": 0 for ip in node_ips}, **VERBS}, outcome.exits
    observed = calls_in(traces)
    listed = seccomp.observed_calls(example_config.otp.source.version)
    assert observed - listed == set(), (
        "the image made calls its OTP pin's list lacks: run tests/confine/observe_syscalls.py "
        "and review the new list")


def test_the_build_image_run_line_serves_under_the_profile(
        docker_client: docker.DockerClient, confine_network: PrivateNetwork, example_image: str,
        example_config: config_module.Config, ip_certs: Path, node_ips: list[str], tmp_path: Path) -> None:
    profile = seccomp.write_profile(example_config, tmp_path / "seccomp.json")
    ip = node_ips[0]
    argv = docker_run_argv(example_image, ip_certs / ip, network=Network(confine_network.name, ip),
                           name=f"build-image-test-{uuid.uuid4().hex[:10]}", seccomp=profile)
    detached = [*argv[:2], "--detach", "--label", f"{LABEL}={RUN}", *argv[2:]]
    environ = {**os.environ, contract.COOKIE_VAR: secrets.token_urlsafe(32)}
    container_id = subprocess.run(detached, env=environ, check=True, capture_output=True, text=True).stdout.strip()
    with removing([Node(container=docker_client.containers.get(container_id), ip=ip)]) as (node,):
        node.wait_serving()
        status = Path(f"/proc/{node.main_pid()}/status").read_text()
        assert "\nSeccomp:\t2\n" in status and "\nNoNewPrivs:\t1\n" in status, status
        assert _stop(node) == 0, node.logs()
