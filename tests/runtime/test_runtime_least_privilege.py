"""The exact ``docker run`` line ``builder.run`` prints serves the app.

Started through the docker CLI with :func:`builder.run.docker_run_argv` and
the cookie handed over by :func:`builder.run.docker_run_env` (by name, never
in an argv), then checked from the host: the VM's credentials, capabilities
and no_new_privs flag, the read-only root, and that runtime.exs read PORT.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from builder import contract
from builder.run import Network, docker_run_argv, docker_run_env
from hygiene import LABEL, RUN
from runtime_support import Node, PrivateNetwork, http_get, processes

pytestmark = pytest.mark.docker

APP_PORT = 4100  # not the default: proves config/runtime.exs ran on the read-only root


@pytest.fixture
def least_privileged(example_image: str, cluster_certs: Path, node_ips: dict[str, str], cookie: str,
                     dist_network: PrivateNetwork, docker_client: docker.DockerClient) -> Iterator[Node]:
    ip = node_ips["n3"]
    name = f"build-image-test-{uuid.uuid4().hex[:10]}"
    argv = docker_run_argv(example_image, cluster_certs / "n3", network=Network(dist_network.name, ip),
                           name=name, extra_env={"PORT": str(APP_PORT)})
    assert argv[:2] == ["docker", "run"] and cookie not in " ".join(argv)
    environ = {k: v for k, v in os.environ.items() if k != "RELEASE_COOKIE"}
    detached = [*argv[:2], "--detach", "--label", f"{LABEL}={RUN}", *argv[2:]]
    started = subprocess.run(detached, env=docker_run_env({**environ, "TEST_COOKIE": cookie},
                             cookie_env="TEST_COOKIE"), capture_output=True, text=True, timeout=120, check=False)
    try:
        assert started.returncode == 0, f"{argv} failed:\n{started.stderr}"
        yield Node(container=docker_client.containers.get(name), ip=ip)
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)


def test_the_production_run_line_serves(least_privileged: Node) -> None:
    node = least_privileged
    node.wait_serving(port=APP_PORT)
    reply = http_get(node.ip or "", "/", port=APP_PORT)
    assert reply is not None and (reply.status, reply.body) == (200, b"hello\n")


def test_the_vm_runs_as_nonroot_without_capabilities(least_privileged: Node) -> None:
    node = least_privileged
    node.wait_serving(port=APP_PORT)
    beam = next(p for p in processes(node) if p.name == "beam.smp")
    status = dict(line.split(":\t", 1) for line in Path(f"/proc/{beam.pid}/status").read_text().splitlines()
                  if ":\t" in line)
    assert status["Uid"].split() == [str(contract.RUN_UID)] * 4
    assert status["Gid"].split() == [str(contract.RUN_GID)] * 4
    for capability_set in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[capability_set].strip(), 16) == 0, f"{capability_set} = {status[capability_set]}"
    assert status["NoNewPrivs"].strip() == "1"


def test_the_root_filesystem_is_read_only_and_certs_are_mounted_read_only(least_privileged: Node) -> None:
    node = least_privileged
    node.wait_serving(port=APP_PORT)
    host_config = node.container.attrs["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    mounts = {m["Destination"]: m for m in node.container.attrs["Mounts"]}
    assert mounts["/app/dist-certs"]["RW"] is False
    mountinfo = Path(f"/proc/{node.main_pid()}/mountinfo").read_text().splitlines()
    root = next(line.split() for line in mountinfo if line.split()[4] == "/")
    assert "ro" in root[5].split(","), f"root is mounted {root[5]}"
    tmp = next(line.split() for line in mountinfo if line.split()[4] == "/tmp")
    assert tmp[tmp.index("-") + 1] == "tmpfs"
