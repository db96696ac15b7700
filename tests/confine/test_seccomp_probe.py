"""A static probe under the example's profile: each denied call gets EPERM, clone3 ENOSYS.

The probe (``probe.c``) is compiled static on the host and bind-mounted into
the example image (which has no shell to run anything else), started like
production.  Without a capability many of these calls fail with EPERM
anyway, so the same probe also runs without a filter: the calls no
capability decides must then get another answer, which shows the EPERM
comes from the profile.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import docker
import pytest
from docker.types import Mount

from builder import seccomp
from confine_support import Confined, removing, start
from runtime_support import PrivateNetwork

pytestmark = [pytest.mark.docker, pytest.mark.tools("gcc")]

PROBED = ("ptrace", "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
          "userfaultfd", "perf_event_open", "process_vm_readv", "process_vm_writev", "init_module",
          "finit_module", "delete_module", "kexec_load", "kexec_file_load", "personality")
#: Calls whose unfiltered answer no missing capability turns into EPERM.
NOT_CAPABILITY_GATED = ("ptrace", "unshare", "setns", "keyctl", "add_key", "request_key", "perf_event_open",
                        "process_vm_readv", "process_vm_writev", "personality")
EPERM, ENOSYS = 1, 38


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("probe")
    directory.chmod(0o755)  # the container user must reach the probe through the bind mount
    subprocess.run(["gcc", "-static", "-O2", "-o", str(directory / "probe"),
                    str(Path(__file__).with_name("probe.c"))], check=True)
    return directory


def _run_probe(client: docker.DockerClient, network: PrivateNetwork, image: str, probe: Path,
               profile: str) -> dict[str, str]:
    how = Confined(seccomp=profile, entrypoint=["/probe/probe"],
                   mounts=[Mount(target="/probe", source=str(probe), type="bind", read_only=True)])
    with removing([]) as started:
        node = start(client, network, image, None, how)
        started.append(node)
        assert node.wait_exit() == 0, node.logs()
        lines = [line.split(None, 1) for line in node.stdout().splitlines()]
    return {name.rstrip(":"): value.strip() for name, value in lines}


def test_each_denied_call_gets_eperm_under_a_seccomp_filter(
        docker_client: docker.DockerClient, confine_network: PrivateNetwork, example_image: str,
        probe: Path, example_profile: str) -> None:
    answers = _run_probe(docker_client, confine_network, example_image, probe, example_profile)
    assert answers["Seccomp"] == "2", answers
    assert {name: answers[name] for name in PROBED} == dict.fromkeys(PROBED, str(EPERM))
    assert set(PROBED) <= seccomp.DENIED
    assert answers["clone3"] == str(ENOSYS), "glibc falls back to clone only on ENOSYS"
    assert answers["clone_newuser"] == str(EPERM), "clone may not make namespaces"
    assert answers["socket_netlink"] == str(EPERM), "socket may open AF_UNIX, AF_INET and AF_INET6 only"


def test_without_the_filter_the_same_calls_are_answered_by_the_kernel(
        docker_client: docker.DockerClient, confine_network: PrivateNetwork, example_image: str,
        probe: Path) -> None:
    answers = _run_probe(docker_client, confine_network, example_image, probe, "unconfined")
    assert answers["Seccomp"] == "0", answers
    assert [name for name in NOT_CAPABILITY_GATED if answers[name] == str(EPERM)] == [], answers
    assert answers["clone3"] != str(ENOSYS), answers
    assert answers["socket_netlink"] == "0", answers
