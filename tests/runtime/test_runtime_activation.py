"""The real image under systemd's run-time interface, without systemd: a
socket passed as fd 3, the cookie and certificates as credentials bound onto
dist-certs, READY=1 on a notify socket.

The example image's root filesystem is exported to a directory, and a small
activator (:data:`ACTIVATOR`) does what systemd does for the unit, in a
private network, mount and pid namespace (``unshare -n -m -p``; needs root): /proc,
/tmp and a minimal /dev mounted, a credentials directory under /run/credentials bound
read-only onto /app/dist-certs, a listening socket at fd 3, then it forks
and the child chroots, drops to the run user, sets ``LISTEN_PID`` to its
own pid and execs /app/bin/server.  So the launcher, erlexec, beam.smp and
the hello app are the image's own; only systemd is played.

systemd itself as PID 1 is tests/systemd's (the unit's hardening, the
.socket unit, activation on the first request); this test pins the
launcher's and the release's part of the interface on the real image.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from builder import contract
from builder.certs import write_dist_certs
from hygiene import LABELS

pytestmark = [pytest.mark.docker, pytest.mark.tools("root", "unshare", "ip", "mount")]

#: Runs as root in the private namespaces: argv root, certs, cookie. Prints one JSON line.
ACTIVATOR = r"""
import json, os, signal, socket, subprocess, sys, time

root, certs, cookie = sys.argv[1:4]
RUN_UID = int(sys.argv[4])
UNIT_CREDENTIALS = "/run/credentials/hello.service"

def sh(*argv):
    subprocess.run(argv, check=True)

sh("ip", "link", "set", "lo", "up")
sh("mount", "-t", "proc", "proc", f"{root}/proc")
sh("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", f"{root}/tmp")
# The few device nodes PrivateDevices= gives (Docker's /dev is not in the export).
sh("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", f"{root}/dev")
for device in ("null", "zero", "full", "random", "urandom"):
    open(f"{root}/dev/{device}", "w").close()
    sh("mount", "--bind", f"/dev/{device}", f"{root}/dev/{device}")
os.makedirs(f"{root}/run", exist_ok=True)
sh("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", f"{root}/run")
# LoadCredential=: the files in a directory only the service user reads.
credentials = root + UNIT_CREDENTIALS
os.makedirs(credentials)
for name, data in [("cookie", cookie + "\n")] + [
        (pem, open(os.path.join(certs, pem)).read()) for pem in ("dist-cert.pem", "dist-key.pem", "dist-ca.pem")]:
    path = os.path.join(credentials, name)
    with open(path, "w") as out:
        out.write(data)
    os.chown(path, RUN_UID, RUN_UID)
    os.chmod(path, 0o400)
os.chown(credentials, RUN_UID, RUN_UID)
os.chmod(credentials, 0o500)
# BindReadOnlyPaths=%d:/app/dist-certs
sh("mount", "--bind", credentials, f"{root}/app/dist-certs")
sh("mount", "-o", "remount,bind,ro", f"{root}/app/dist-certs")

notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(f"{root}/run/notify")
os.chmod(f"{root}/run/notify", 0o777)
notify.settimeout(90)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]

pid = os.fork()
if pid == 0:
    if listener.fileno() != 3:
        os.dup2(listener.fileno(), 3)
    os.chroot(root)
    os.chdir("/")
    os.setgroups([])
    os.setgid(RUN_UID)
    os.setuid(RUN_UID)
    env = {"PATH": "/app/bin", "LANG": "C.UTF-8", "RELEASE_TMP": "/tmp", "HOME": "/home/nonroot",
           "POD_IP": "127.0.0.1", "CREDENTIALS_DIRECTORY": UNIT_CREDENTIALS,
           "LISTEN_FDS": "1", "LISTEN_FDNAMES": "http", "LISTEN_PID": str(os.getpid()),
           "NOTIFY_SOCKET": "/run/notify", "WATCHDOG_USEC": "2000000"}
    os.execve("/app/bin/server", ["/app/bin/server"], env)
inode = os.fstat(listener.fileno()).st_ino
listener.close()

def holders():
    # Every process holding systemd's socket: only the VM may (epmd outlives it).
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fds = os.listdir(f"/proc/{entry}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{entry}/fd/{fd}") == f"socket:[{inode}]":
                        found.append(int(entry))
                except OSError:
                    pass
    return sorted(set(found))

result = {"pid": pid}
try:
    result["notified"] = [notify.recv(4096).decode(), notify.recv(4096).decode()]
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(b"GET / HTTP/1.1\r\nhost: test\r\n\r\n")
        result["response"] = client.recv(4096).decode()
    result["exe"] = os.readlink(f"/proc/{pid}/exe")
    result["fd3"] = os.readlink(f"/proc/{pid}/fd/3")
    result["holders"] = holders()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        result["cmdline"] = f.read().decode(errors="replace")
    with open(f"/proc/{pid}/environ", "rb") as f:
        result["environ"] = f.read().decode(errors="replace")
    with open("/proc/net/tcp") as f:
        result["listening_ports"] = sorted({int(line.split()[1].split(":")[1], 16)
                                            for line in f.readlines()[1:] if line.split()[3] == "0A"})
    result["port"] = port
finally:
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    result["exit"] = os.waitstatus_to_exitcode(status)
print(json.dumps(result))
"""


@pytest.fixture(scope="module", params=["example_image", "epmdless_image"])
def image_root(request: pytest.FixtureRequest, docker_client: docker.DockerClient,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example image's files (epmd started by the launcher, or EPMD-less), as
    ``build-image systemd`` lays a RootDirectory= out."""
    image = request.getfixturevalue(request.param)
    root = tmp_path_factory.mktemp("image-root") / "root"
    archive = root.parent / "image.tar"
    container = docker_client.containers.create(image, command=["/nonexistent"], labels=LABELS)
    try:
        with archive.open("wb") as out:
            for chunk in container.export():
                out.write(chunk)
    finally:
        container.remove(force=True)
    root.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(root, numeric_owner=True, filter="fully_trusted")
    archive.unlink()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_the_image_serves_on_the_passed_socket_with_credentials(
    image_root: Path, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    write_dist_certs(certs, ["node=127.0.0.1"])
    cookie = secrets.token_urlsafe(32)
    done = subprocess.run(
        # A pid namespace too: the activator is its init, so when it exits the kernel
        # ends everything the launcher left behind (the daemon epmd) with it.
        ["unshare", "-n", "-m", "-p", "--fork", "--mount-proc", "--propagation", "private",
         sys.executable, "-c", ACTIVATOR,
         str(image_root), str(certs / "node"), cookie, str(contract.RUN_UID)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # The launcher's pid became beam.smp's: erlexec execs it in place, LISTEN_PID stays right.
    assert result["exe"].endswith("/bin/beam.smp"), result["exe"]
    assert f"LISTEN_PID={result['pid']}" in result["environ"].split("\0")
    assert result["fd3"].startswith("socket:["), result
    # Not epmd (the launcher's helper closed it before starting epmd), not erl_child_setup.
    assert result["holders"] == [result["pid"]], result
    # READY=1 once booted, then the watchdog (WATCHDOG_USEC=2 s: a ping every second).
    assert result["notified"] == ["READY=1", "WATCHDOG=1"]
    assert result["response"].startswith("HTTP/1.1 200 OK"), result["response"]
    assert result["response"].endswith("hello\n")
    # Served on systemd's socket, not on a port of its own.
    assert contract.DEFAULT_HTTP_PORT not in result["listening_ports"], result["listening_ports"]
    assert result["port"] in result["listening_ports"]
    assert cookie not in result["cmdline"] and cookie not in result["environ"]
    assert "serving HTTP on the socket systemd passed (http, fd 3)" in done.stdout + done.stderr
    assert result["exit"] == 0, done.stderr[-4000:]
