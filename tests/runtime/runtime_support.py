"""Helpers for the runtime tests: containers on a private network, observed from the host.

The image has no shell, so nothing is run *inside* a container to look at
it: HTTP goes to the container's address, processes and sockets are read
from the host's /proc through the container's PIDs (``docker top``).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ipaddress
import json
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool, Mount

from builder import contract
from hygiene import LABELS

HTTP_PORT = contract.DEFAULT_HTTP_PORT
DIST_PORT = contract.DEFAULT_DIST_PORT
EPMD_PORT = 4369
# Docker's embedded DNS resolver listens here inside every container on a
# user-defined network; it is the engine's, not the image's.
DOCKER_DNS = "127.0.0.11"
RELEASE = "hello"
TMPFS = {contract.RELEASE_TMP: contract.TMPFS_OPTIONS}
# Launcher exit codes (launcher/src/main.c, documented in launcher/README.md).
EXIT_USAGE = 64
EXIT_ENVIRONMENT = contract.EXIT_ENV_REFUSED
EXIT_REFUSED = 78
# Generous bounds for one node to boot / a cluster to form on a busy 2-core CI box.
BOOT_DEADLINE = 60.0
EXIT_DEADLINE = 60.0

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], deadline: float = BOOT_DEADLINE,
              on_timeout: Callable[[], str] = lambda: "") -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline:.0f}s waiting for {what}\n{on_timeout()}")
        time.sleep(0.25)


def never_within(what: str, probe: Callable[[], bool], seconds: float) -> None:
    """Fail as soon as ``probe`` is true during ``seconds`` (a bounded negative check)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert not probe(), f"{what} happened"
        time.sleep(0.25)


# -- HTTP ----------------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


def http_get(host: str, path: str, port: int = HTTP_PORT, timeout: float = 3.0) -> Response | None:
    """GET over a real HTTP client; None while nothing answers yet."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return Response(reply.status, reply.read())
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def cluster_view(ip: str) -> dict[str, object] | None:
    """The node's own ``/nodes`` answer: ``{"node": ..., "nodes": [...]}``."""
    reply = http_get(ip, "/nodes")
    if reply is None or reply.status != 200:
        return None
    return json.loads(reply.body)


def node_name(ip: str) -> str:
    return f"{RELEASE}@{ip}"


def dist_view(ip: str) -> dict[str, object] | None:
    """The node's own ``/dist`` answer: its -proto_dist arguments, listener and connection protocols."""
    reply = http_get(ip, "/dist")
    if reply is None or reply.status != 200:
        return None
    return json.loads(reply.body)


# -- the private network ---------------------------------------------------------
@dataclass
class PrivateNetwork:
    """A user-defined bridge with a fixed subnet, handing out addresses in order."""

    network: Network
    subnet: ipaddress.IPv4Network
    _next: int = 10

    @property
    def name(self) -> str:
        return self.network.name

    def allocate(self) -> str:
        ip = self.subnet.network_address + self._next
        self._next += 1
        assert self._next < 128, "the fixed half of the test subnet is exhausted"
        return str(ip)


def create_network(client: docker.DockerClient) -> PrivateNetwork:
    """A fresh bridge on a /24 no other Docker network uses."""
    taken = [ipaddress.ip_network(cfg["Subnet"])
             for net in client.networks.list()
             for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []
             if "Subnet" in cfg and ":" not in cfg["Subnet"]]
    for third in range(200, 255):
        subnet = ipaddress.ip_network(f"172.29.{third}.0/24")
        if not any(subnet.overlaps(t) for t in taken):
            break
    else:
        raise AssertionError("no free 172.29.x.0/24 subnet for the test network")
    # Docker hands out addresses to containers started without --ip from the
    # upper half only; the lower half is ours for fixed addresses.
    _fixed, dynamic = subnet.subnets(prefixlen_diff=1)
    ipam = IPAMConfig(pool_configs=[IPAMPool(subnet=str(subnet), iprange=str(dynamic),
                                             gateway=str(subnet.network_address + 1))])
    network = client.networks.create(f"build-image-test-{uuid.uuid4().hex[:8]}", driver="bridge",
                                      ipam=ipam, labels=LABELS)
    return PrivateNetwork(network=network, subnet=subnet)


def remove_network(network: PrivateNetwork) -> None:
    network.network.reload()
    for container in network.network.containers:
        container.remove(force=True)
    network.network.remove()


@contextmanager
def private_network(client: docker.DockerClient) -> Iterator[PrivateNetwork]:
    """A test network for as long as the block runs, removed with whatever is left on it."""
    network = create_network(client)
    try:
        yield network
    finally:
        remove_network(network)


# -- containers ------------------------------------------------------------------
@dataclass(frozen=True)
class NodeSpec:
    """How to start one container of the image, hardened like production by default."""

    image: str
    ip: str | None = None
    certs: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] = ()
    entrypoint: Sequence[str] | None = None


@dataclass(frozen=True)
class Node:
    container: Container
    ip: str | None

    @property
    def name(self) -> str:
        assert self.ip is not None
        return node_name(self.ip)

    def logs(self) -> str:
        return self.container.logs(stdout=True, stderr=True).decode(errors="replace")

    def stderr(self) -> str:
        return self.container.logs(stdout=False, stderr=True).decode(errors="replace")

    def stdout(self) -> str:
        return self.container.logs(stdout=True, stderr=False).decode(errors="replace")

    def wait_exit(self, deadline: float = EXIT_DEADLINE) -> int:
        try:
            status = self.container.wait(timeout=deadline)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            raise AssertionError(f"container did not exit within {deadline}s:\n{self.logs()}") from exc
        return int(status["StatusCode"])

    def host_pids(self) -> list[int]:
        """Host PIDs of every process in the container (``docker top``)."""
        top = self.container.top(ps_args="-eo pid")
        return [int(row[0]) for row in top["Processes"]]

    def main_pid(self) -> int:
        self.container.reload()
        return int(self.container.attrs["State"]["Pid"])

    def wait_serving(self, deadline: float = BOOT_DEADLINE, port: int = HTTP_PORT) -> None:
        def probe() -> bool:
            self.container.reload()
            if self.container.status == "exited":
                raise AssertionError(f"container exited before serving:\n{self.logs()}")
            assert self.ip is not None
            reply = http_get(self.ip, "/health", port=port)
            return reply is not None and reply.status == 200
        wait_for(f"{self.container.name} to serve HTTP", probe, deadline, self.logs)


def start(client: docker.DockerClient, network: PrivateNetwork, spec: NodeSpec) -> Node:
    """Start a container detached; the caller's fixture removes it."""
    kwargs: dict[str, object] = dict(
        detach=True,
        read_only=True,
        tmpfs=TMPFS,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user=contract.RUN_USER,
        environment=dict(spec.env),
        labels=LABELS,
        network=network.name,
        name=f"build-image-test-{uuid.uuid4().hex[:10]}",
    )
    if spec.ip is not None:
        kwargs["networking_config"] = {
            network.name: client.api.create_endpoint_config(ipv4_address=spec.ip)}
    if spec.certs is not None:
        kwargs["mounts"] = [Mount(target=contract.DIST_CERTS_MOUNT, source=str(spec.certs), type="bind",
                                  read_only=True)]
    if spec.entrypoint is not None:
        kwargs["entrypoint"] = list(spec.entrypoint)
    container = client.containers.run(spec.image, list(spec.command) or None, **kwargs)
    return Node(container=container, ip=spec.ip)


@contextmanager
def started_containers(client: docker.DockerClient,
                       network: PrivateNetwork) -> Iterator[Callable[[NodeSpec], Node]]:
    """A ``start`` for one test or module: every container it started is removed afterwards, pass or fail."""
    started: list[Node] = []

    def _run(spec: NodeSpec) -> Node:
        node = start(client, network, spec)
        started.append(node)
        return node

    try:
        yield _run
    finally:
        for node in started:
            remove(node)


def image_file(client: docker.DockerClient, image: str, path: str) -> str:
    """A small text file out of the image, read without starting it (there is no shell)."""
    container = client.containers.create(image, command=["/nonexistent"], labels=LABELS)
    try:
        chunks, _stat = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
            member = tar.extractfile(tar.getmembers()[0])
            assert member is not None, f"{path} is not a regular file in {image}"
            return member.read().decode()
    finally:
        container.remove(force=True)


def remove(node: Node) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        node.container.remove(force=True)


# -- /proc, read from the host ---------------------------------------------------------
@dataclass(frozen=True)
class Socket:
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    state: str


_TCP_STATES = {"01": "ESTABLISHED", "0A": "LISTEN"}


def tcp_sockets(pid: int) -> list[Socket]:
    """IPv4 and IPv6 TCP sockets of ``pid``'s network namespace."""
    sockets = []
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path(f"/proc/{pid}/net/{table}")
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            sockets.append(Socket(*_address(local, width), *_address(remote, width),
                                  _TCP_STATES.get(state, state)))
    return sockets


def _address(text: str, width: int) -> tuple[str, int]:
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    # /proc prints each 32-bit word in host (little-endian) order.
    ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(ordered)), int(port, 16)


@dataclass(frozen=True)
class Process:
    pid: int
    name: str
    state: str
    cmdline: bytes


def processes(node: Node) -> list[Process]:
    """Every process of the container as the host's /proc shows it."""
    found = []
    for pid in node.host_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        state = stat[stat.rindex(")") + 2]
        found.append(Process(pid=pid, name=name, state=state, cmdline=cmdline))
    return found


# -- an intruder -----------------------------------------------------------------------
def plain_tcp_intruder(run: Callable[[NodeSpec], Node], client: docker.DockerClient, image: str, ip: str,
                       cookie: str, targets: Sequence[str]) -> str:
    """The image's own ERTS started directly as a plain-TCP node holding the right cookie.

    It pings each target three times and prints ``alive=…`` and ``pings=…``;
    returns its output once it has halted.
    """
    erts, rel = image_file(client, image, "/app/releases/start_erl.data").split()
    bindir = f"/app/erts-{erts}/bin"
    names = ", ".join(f'"{name}"' for name in targets)
    probe = (f"io:format(\"alive=~p~n\", [is_alive()]), "
             f"R = [net_adm:ping(list_to_atom(N)) || N <- [{names}], _ <- [1, 2, 3]], "
             f"io:format(\"pings=~p~n\", [lists:usort(R)]), halt()")
    intruder = run(NodeSpec(
        image, ip, None,
        {"ROOTDIR": "/app", "BINDIR": bindir, "EMU": "beam", "PROGNAME": "erl"},
        command=["-noshell", "-boot", f"/app/releases/{rel}/start_clean", "-boot_var", "RELEASE_LIB",
                 "/app/lib", "-name", f"intruder@{ip}", "-setcookie", cookie, "-start_epmd", "false",
                 "-dist_listen", "false", "-eval", probe],
        entrypoint=[f"{bindir}/erlexec"]))
    assert intruder.wait_exit() == 0, intruder.logs()
    output = intruder.stdout()
    assert "alive=true" in output, f"the plain node did not start distribution:\n{intruder.logs()}"
    return output
