"""Real systemd as PID 1 in a container, with the release installed the way the README says.

A :class:`SystemdHost` is one container of the test host image
(:mod:`systemd_host`) on a private network, holding what ``build-image
systemd`` wrote: the root filesystem at ``/var/lib/hello/rootfs``, the units
in ``/etc/systemd/system/``, and the node's credentials (cookie and
certificates, root only) in ``/etc/hello/``, plus a drop-in naming the node
(``POD_IP``) and its peers.  Commands run inside through ``docker exec``:
the host has a shell, the release's root has none.

Why PID 1 is ``sh -c 'mount --make-rshared / && exec /sbin/init'``: systemd
makes ``/`` a shared mount at boot, except when it detects a container, where
it leaves propagation to the container manager; Docker's mounts (the
``--tmpfs /run`` among them) are private.  systemd 252 writes a service's
credentials on a ramfs it mounts in a helper's mount namespace and moves onto
``/run/credentials/<unit>``: on a private ``/run`` the move never reaches the
service, which then finds an empty, root-only directory (the EACCES measured
first).  Making ``/`` shared before systemd starts gives it the propagation it
has on every host it boots; the unit needs no workaround.
"""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from hygiene import LABELS
from runtime_support import PrivateNetwork
from systemd_host import RUN_SETTINGS

RELEASE = "hello"
ROOT_DIRECTORY = f"/var/lib/{RELEASE}/rootfs"
CREDENTIALS_DIR = f"/etc/{RELEASE}"
UNIT_DIR = "/etc/systemd/system"
SERVICE = f"{RELEASE}.service"
SOCKET = f"{RELEASE}.socket"
BOOT_DEADLINE = 60.0


@dataclass(frozen=True)
class Exec:
    code: int
    output: str


@dataclass(frozen=True)
class SystemdHost:
    container: Container
    ip: str

    def sh(self, command: str) -> Exec:
        """Run ``command`` with the host's /bin/sh inside the container."""
        code, output = self.container.exec_run(["/bin/sh", "-c", command], demux=False)
        return Exec(int(code), (output or b"").decode(errors="replace"))

    def must(self, command: str) -> str:
        done = self.sh(command)
        assert done.code == 0, f"`{command}` exited {done.code}:\n{done.output}\n{self.journal()}"
        return done.output

    def state(self, unit: str) -> str:
        return self.sh(f"systemctl show -P ActiveState {unit}").output.strip()

    def journal(self, unit: str = SERVICE) -> str:
        return self.sh(f"journalctl -u {unit} --no-pager -o short-monotonic | tail -40").output

    def curl(self, path: str = "/health", timeout: int = 60) -> str:
        """The HTTP status of a GET to the socket inside the container ("000": no answer)."""
        return self.sh(f"curl -s -o /dev/null -m {timeout} -w '%{{http_code}}' http://127.0.0.1:4000{path}").output

    def put(self, files: Mapping[str, tuple[bytes, int]]) -> None:
        """Write ``{path: (content, mode)}`` inside, owned by root."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            for path, (content, mode) in files.items():
                info = tarfile.TarInfo(path.lstrip("/"))
                info.size, info.mode = len(content), mode
                tar.addfile(info, io.BytesIO(content))
        assert self.container.put_archive("/", buffer.getvalue())


def install_tar(outdir: Path) -> bytes:
    """What ``build-image systemd`` wrote, laid out as the README installs it (owners and links kept)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(outdir / "rootfs", arcname=ROOT_DIRECTORY.lstrip("/"))
        for unit in sorted(outdir.glob(f"{RELEASE}*.s*")):
            tar.add(unit, arcname=f"{UNIT_DIR}/{unit.name}".lstrip("/"))
    return buffer.getvalue()


def start_host(client: docker.DockerClient, image: str, network: PrivateNetwork, ip: str,
               installed: bytes) -> SystemdHost:
    """A booted systemd host at ``ip`` with the release installed (units loaded, nothing started)."""
    container = client.containers.run(
        image, detach=True, labels=LABELS, name=f"build-image-test-{uuid.uuid4().hex[:10]}",
        network=network.name,
        networking_config={network.name: client.api.create_endpoint_config(ipv4_address=ip)},
        **RUN_SETTINGS)
    host = SystemdHost(container, ip)
    _wait_booted(host)
    assert container.put_archive("/", installed)
    return host


def configure(host: SystemdHost, cookie: str, certs: Path, peers: list[str]) -> None:
    """The node's credentials (root only, as the README says) and its name and peers as a drop-in."""
    files = {f"{CREDENTIALS_DIR}/cookie": (cookie.encode(), 0o600)}
    files |= {f"{CREDENTIALS_DIR}/{pem.name}": (pem.read_bytes(), 0o600) for pem in sorted(certs.glob("*.pem"))}
    peer_names = ",".join(f"{RELEASE}@{peer}" for peer in peers)
    dropin = f'[Service]\nEnvironment="POD_IP={host.ip}" "PEERS={peer_names}"\n'.encode()
    files[f"{UNIT_DIR}/{SERVICE}.d/node.conf"] = (dropin, 0o644)
    host.put(files)
    host.must(f"chmod 0700 {CREDENTIALS_DIR} && systemctl daemon-reload")


def _wait_booted(host: SystemdHost) -> None:
    end = time.monotonic() + BOOT_DEADLINE
    while time.monotonic() < end:
        state = host.sh("systemctl is-system-running").output.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise AssertionError(f"systemd did not finish booting: {state}\n{host.container.logs()[-2000:]!r}")


@contextmanager
def removed(hosts: list[SystemdHost]) -> Iterator[list[SystemdHost]]:
    """Remove every host appended to ``hosts``, pass or fail."""
    try:
        yield hosts
    finally:
        for host in hosts:
            with suppress(docker.errors.NotFound):
                host.container.remove(force=True)
