"""A second, throwaway Docker engine on this machine, for clean-room builds.

It shares nothing with the main engine: its own data-root, exec-root,
pidfile, socket, containerd namespace and bridge.  The bridge is made here
(``BRIDGE``, ``BRIDGE_ADDRESS``) and handed over with ``--bridge``: a second
daemon on ``docker0`` would re-address the main engine's bridge, and
``--bridge none`` is worse, since dockerd then *deletes* ``docker0`` under the
main engine.  Its daemon manages no iptables rules (``--iptables=false``):
a second daemon that does removes and recreates the DOCKER chains the main
engine's published ports live in.  Stage builds do need the network (the
runtime stage downloads debs), so the few rules its bridge needs (forward,
masquerade) are added here, tagged with the bridge's name, and removed
afterwards.  Select the engine with ``DOCKER_HOST``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BRIDGE = "br-build-image2"
BRIDGE_ADDRESS = "10.213.213.1/24"
BRIDGE_SUBNET = "10.213.213.0/24"
# (table, chain, rule) for the bridge's traffic out through the host, and its answers.
RULES = (
    ("filter", "FORWARD", ("-i", BRIDGE, "!", "-o", BRIDGE, "-j", "ACCEPT")),
    ("filter", "FORWARD", ("-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")),
    ("nat", "POSTROUTING", ("-s", BRIDGE_SUBNET, "!", "-o", BRIDGE, "-j", "MASQUERADE")),
)


@contextmanager
def second_dockerd(root: Path, name: str = "build-image-2") -> Iterator[str]:
    """Start dockerd with everything under ``root``; yield its ``DOCKER_HOST``; stop it and wipe ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "docker.sock"
    host = f"unix://{socket}"
    log = (root / "dockerd.log").open("wb")
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", BRIDGE_ADDRESS, "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for table, chain, rule in RULES:
        _iptables("-t", table, "-I", chain, *rule)
    daemon = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "docker.pid"), "--host", host, "--bridge", BRIDGE,
         "--iptables=false", "--ip-masq=false", "--containerd-namespace", name,
         "--containerd-plugins-namespace", f"{name}-plugins"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(host, daemon)
        yield host
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        if os.path.ismount(root / "data"):  # dockerd's own bind mount, left when it died early
            subprocess.run(["umount", str(root / "data")], check=False)
        for table, chain, rule in RULES:
            _iptables("-t", table, "-D", chain, *rule)
        _ip("link", "del", BRIDGE)
        shutil.rmtree(root / "data", ignore_errors=True)
        shutil.rmtree(root / "exec", ignore_errors=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _iptables(*args: str) -> None:
    subprocess.run(["iptables", "-w", *args], check=True)


def _wait(host: str, daemon: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the second dockerd exited with status {daemon.returncode} (see its dockerd.log)")
        if subprocess.run(["docker", "info"], env={**os.environ, "DOCKER_HOST": host},
                          capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the second dockerd did not answer on {host} within {seconds}s")
