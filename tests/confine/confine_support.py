"""Containers of the example image under a seccomp profile, or under strace to observe it.

The image has no shell and no strace, so observation brings its own: the
host's strace and the libraries it links are bind-mounted read-only at
:data:`TOOLS_MOUNT` and run through the host's dynamic loader
(``ld-linux … --library-path``), which sets no ``LD_*`` variable the
launcher would refuse.  strace follows every process (``-f``) from the
launcher's exec on: erlexec, beam.smp, epmd, the verbs.  Whatever runc does
before that exec is not observed; :data:`builder.seccomp.MARGIN` covers it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

from builder import contract
from hygiene import LABELS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime"))
from runtime_support import (
    EXIT_DEADLINE,
    TMPFS,
    Node,
    PrivateNetwork,
    cluster_view,
    dist_view,
    http_get,
    node_name,
    processes,
    wait_for,
)

TOOLS_MOUNT = "/observe"
TRACE_MOUNT = "/trace"
_LOADER = "ld-linux-x86-64.so.2"
# One traced call: "PID name(" or "PID <... name resumed>".
_CALL = re.compile(r"^\d+ +(?:<\.\.\. )?([a-z_][a-z0-9_]*)(?:\(| resumed>)")
_EXIT = re.compile(r"^(\d+) +\+\+\+ exited with (\d+) \+\+\+")


@dataclass(frozen=True)
class Confined:
    """How one container is confined beyond the production defaults."""

    seccomp: str  # "unconfined" or the profile's JSON text
    mounts: Sequence[Mount] = ()
    entrypoint: Sequence[str] | None = None
    command: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def start(client: docker.DockerClient, network: PrivateNetwork, image: str, ip: str | None,
          how: Confined) -> Node:
    """Start ``image`` hardened like production (``builder.run``), confined as ``how`` says."""
    endpoint = client.api.create_endpoint_config(ipv4_address=ip) if ip is not None else None
    container = client.containers.run(
        image, list(how.command) or None, detach=True, read_only=True, tmpfs=TMPFS, cap_drop=["ALL"],
        security_opt=["no-new-privileges", f"seccomp={how.seccomp}"],
        user=contract.RUN_USER, environment=dict(how.env), labels=LABELS, network=network.name,
        networking_config={network.name: endpoint} if endpoint is not None else None,
        name=f"build-image-test-{uuid.uuid4().hex[:10]}", mounts=list(how.mounts),
        entrypoint=list(how.entrypoint) if how.entrypoint is not None else None,
    )
    return Node(container=container, ip=ip)


def certs_mount(certs: Path) -> Mount:
    return Mount(target=contract.DIST_CERTS_MOUNT, source=str(certs), type="bind", read_only=True)


# -- observation ------------------------------------------------------------------

def strace_tools(directory: Path) -> Path:
    """The host's strace, its libraries and the loader, copied into ``directory``."""
    strace = shutil.which("strace")
    assert strace is not None, "strace is not installed (.ci/setup installs it)"
    linked = subprocess.run(["ldd", strace], check=True, capture_output=True, text=True).stdout
    libraries = re.findall(r"(/\S+\.so[.\d]*) \(0x", linked)
    directory.mkdir(parents=True, exist_ok=True)
    for path in [strace, *libraries]:
        shutil.copy(Path(path).resolve(), directory / Path(path).name)
    assert (directory / _LOADER).exists(), f"no {_LOADER} among strace's libraries: {linked}"
    return directory


def traced(tools: Path, traces: Path, program: str, env: Mapping[str, str],
           mounts: Sequence[Mount] = ()) -> Confined:
    """Run ``program`` (a path in the image) under strace, writing ``traces/<uuid>``.

    Observation runs without a seccomp filter, so nothing observed was
    shaped by Docker's default profile.
    """
    name = f"{TRACE_MOUNT}/{uuid.uuid4().hex}"
    return Confined(
        seccomp="unconfined",
        mounts=[*mounts, Mount(target=TOOLS_MOUNT, source=str(tools), type="bind", read_only=True),
                Mount(target=TRACE_MOUNT, source=str(traces), type="bind")],
        entrypoint=[f"{TOOLS_MOUNT}/{_LOADER}"],
        command=["--library-path", TOOLS_MOUNT, f"{TOOLS_MOUNT}/strace", "-f", "-q", "-o", name, program],
        env=env,
    )


def trace_directory(directory: Path) -> Path:
    """A directory the container user may write its traces to."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.chown(directory, contract.RUN_UID, contract.RUN_GID)
    return directory


def calls_in(traces: Path) -> set[str]:
    """Every system call name in the strace output files under ``traces``."""
    return {match.group(1) for trace in traces.iterdir()
            for line in trace.read_text(errors="replace").splitlines() if (match := _CALL.match(line))}


def sigterm_traced(node: Node, traces: Path) -> int:
    """SIGTERM to beam.smp itself, and its exit status as strace recorded it.

    Under observation PID 1 is strace, which blocks SIGTERM and would wait
    for epmd (a daemon that outlives the VM), so the VM is signalled from
    the host and the container is killed once the VM has exited.
    """
    vms = [p.pid for p in processes(node) if p.name.startswith("beam")]
    assert len(vms) == 1, f"not one beam process in {node.container.name}: {[p.name for p in processes(node)]}"
    os.kill(vms[0], signal.SIGTERM)
    trace = traces / Path(_trace_of(node)).name
    status = wait_for(f"{node.container.name}'s VM to exit", lambda: _first_exit(trace), EXIT_DEADLINE, node.logs)
    node.container.kill()
    return int(status)


def _trace_of(node: Node) -> str:
    command = node.container.attrs["Args"]
    return str(command[command.index("-o") + 1])


def _first_exit(trace: Path) -> str | None:
    """The exit status of the first traced process (the launcher, exec'd into the VM)."""
    lines = trace.read_text(errors="replace").splitlines()
    first = lines[0].split()[0] if lines else None
    for line in lines:
        match = _EXIT.match(line)
        if match and match.group(1) == first:
            return match.group(2)
    return None


def profile_json(profile: Mapping[str, object]) -> str:
    return json.dumps(profile, sort_keys=True)


@contextmanager
def removing(nodes: list[Node]) -> Iterator[list[Node]]:
    """Remove every node appended to ``nodes``, pass or fail."""
    try:
        yield nodes
    finally:
        for node in nodes:
            try:
                node.container.remove(force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:  # a --rm container the engine is removing itself
                if exc.status_code != 409:
                    raise


# -- the workload: what the image is observed doing, and proven to do under the profile ----

VERBS = {"check": 0, "fail": 3}  # examples/hello: Hello.Tasks.fail() halts with 3
#: How a workload container is started: (program in the image, environment, mounts) -> confinement.
Confine = Callable[[str, Mapping[str, str], Sequence[Mount]], Confined]


@dataclass
class Outcome:
    """What the workload saw: the cluster views, the /dist answers and every exit status."""

    nodes: dict[str, object] = field(default_factory=dict)
    dist: dict[str, object] = field(default_factory=dict)
    exits: dict[str, int] = field(default_factory=dict)


def workload(client: docker.DockerClient, network: PrivateNetwork, image: str, certs: Path,
             ips: Sequence[str], cookie: str, confine: Confine, stop: Callable[[Node], int]) -> Outcome:
    """Boot two nodes, serve HTTP, form the TLS cluster, stop both with SIGTERM, run each verb.

    ``certs/<ip>`` holds each node's certificate set; ``stop`` delivers the SIGTERM and
    returns the server's exit status.
    """
    outcome = Outcome()
    with removing([]) as started:
        for ip in ips:
            peers = ",".join(node_name(other) for other in ips if other != ip)
            env = {contract.COOKIE_VAR: cookie, "POD_IP": ip, "PEERS": peers}
            started.append(start(client, network, image, ip,
                                 confine(contract.ENTRYPOINT, env, [certs_mount(certs / ip)])))
        for node in started:
            node.wait_serving()
        wait_for("the nodes to list each other", lambda: all(_clustered(node, ips) for node in started),
                 on_timeout=lambda: "\n".join(node.logs() for node in started))
        for node in started:
            assert node.ip is not None
            outcome.nodes[node.ip] = cluster_view(node.ip)
            outcome.dist[node.ip] = dist_view(node.ip)
            http_get(node.ip, "/health")
        for node in started:
            outcome.exits[f"server@{node.ip}"] = stop(node)
        for verb in VERBS:
            node = start(client, network, image, None, confine(f"/app/bin/{verb}", {}, []))
            started.append(node)
            outcome.exits[verb] = node.wait_exit()
    return outcome


def _clustered(node: Node, ips: Sequence[str]) -> bool:
    assert node.ip is not None
    view = cluster_view(node.ip)
    others = {node_name(ip) for ip in ips if ip != node.ip}
    return view is not None and others <= set(view["nodes"])  # type: ignore[call-overload]
