"""A throwaway local registry: Debian's ``docker-registry`` (distribution 2.8.2).

The supply-chain tests push, sign and pull through a real registry, never a
mock: this starts one on 127.0.0.1 with its own storage directory, and stops
it.  A developer can start the same one by hand::

    python3 tests/supply/local_registry.py /tmp/registry 5000

which prints the address and serves until interrupted.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROGRAM = "docker-registry"
CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
#: The login the tests' authenticated registry accepts (``htpasswd -Bbn``); never a real secret.
LOGIN = ("ci-robot", "a test password, never a real secret")
# distribution's htpasswd auth: Basic, bcrypt entries only (``htpasswd -B``).
AUTH = """\
auth:
  htpasswd:
    realm: build-image-test
    path: {htpasswd}
"""


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def local_registry(directory: Path, port: int | None = None, htpasswd: Path | None = None) -> Iterator[str]:
    """Serve a registry on 127.0.0.1 storing under ``directory``; yield ``127.0.0.1:PORT``.

    With ``htpasswd`` (bcrypt entries) every request needs one of its logins.
    The registry's log goes to ``directory/registry.log`` so a failing test
    can show what the registry said.
    """
    port = port or free_port()
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = directory / "config.yml"
    config.write_text(CONFIG.format(root=storage, port=port) + (AUTH.format(htpasswd=htpasswd) if htpasswd else ""))
    log = (directory / "registry.log").open("wb")
    server = subprocess.Popen([PROGRAM, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/v2/", server)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{PROGRAM} exited with status {server.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for a login
                return
            time.sleep(0.1)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise RuntimeError(f"{PROGRAM} did not answer {url} within {seconds}s")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/build-image-registry")
    with local_registry(target, int(sys.argv[2]) if len(sys.argv) > 2 else 5000) as address:
        print(f"registry at {address}, storage in {target}/storage; Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
