"""build_image_systemd, the readiness module every release gets, on the
host's Erlang: READY=1 and WATCHDOG=1 arrive as datagrams on a real AF_UNIX
socket (path and abstract forms), and listen_fds/0 hands back a socket passed
as fd 3 that gen_tcp then accepts on.

For listen_fds/0 a small Python wrapper plays systemd: it puts the socket
at fd 3, sets LISTEN_PID to its own pid and execs ``erl``, which execs
erlexec, which execs beam.smp: the pid never changes, so the VM's
os:getpid() is LISTEN_PID, as it is under the launcher.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from builder import audit
from tests.launcher.conftest import LAUNCHER_SRC

pytestmark = pytest.mark.tools("erlc", "erl")

MODULE = LAUNCHER_SRC / "erlang" / "build_image_systemd.erl"
#: argv: fd to put at 3, then erl's argv; LISTEN_PID becomes this (and the VM's) pid.
WRAPPER = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execvp(sys.argv[2], sys.argv[2:])
"""


@pytest.fixture(scope="module")
def ebin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ebin")
    subprocess.run(
        ["erlc", "-Wall", "+warnings_as_errors", "+debug_info", "-o", str(directory), str(MODULE)],
        check=True,
    )  # fmt: skip
    return directory


def erl(ebin: Path, body: str) -> list[str]:
    return ["erl", "-noshell", "-pa", str(ebin), "-eval", body]


def vm_env(**extra: str) -> dict[str, str]:
    """The host's environment without any systemd variable of its own."""
    names = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID",
             "LISTEN_FDNAMES")  # fmt: skip
    # No crash dump in the working directory when a VM fails its check.
    return {**{k: v for k, v in os.environ.items() if k not in names}, "ERL_CRASH_DUMP_SECONDS": "0",
            **extra}


@pytest.fixture
def notify_path(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A notify socket at a path, as systemd's /run/systemd/notify."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(10)
    with sock:
        yield str(path), sock


@pytest.fixture
def notify_abstract() -> Iterator[tuple[str, socket.socket]]:
    """A notify socket in the abstract namespace, which NOTIFY_SOCKET spells '@name'."""
    name = f"build-image-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    with sock:
        yield "@" + name, sock


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_ready_sends_ready_then_watchdog_pings(
    request: pytest.FixtureRequest, ebin: Path, kind: str
) -> None:
    address, sock = request.getfixturevalue(f"notify_{kind}")
    env = vm_env(NOTIFY_SOCKET=address, WATCHDOG_USEC="200000")
    vm = subprocess.Popen(erl(ebin, "ok = build_image_systemd:ready(), timer:sleep(30000)."), env=env)
    try:
        received = [sock.recv(4096) for _ in range(3)]
        started = time.monotonic()
        received.append(sock.recv(4096))
        interval = time.monotonic() - started
    finally:
        vm.kill()
        vm.wait()
    assert received == [b"READY=1", b"WATCHDOG=1", b"WATCHDOG=1", b"WATCHDOG=1"]
    # Half of WATCHDOG_USEC, 100 ms: well inside systemd's 200 ms.
    assert 0.05 < interval < 0.2, interval


def test_no_watchdog_for_another_process(
    ebin: Path, notify_path: tuple[str, socket.socket]
) -> None:
    address, sock = notify_path
    env = vm_env(NOTIFY_SOCKET=address, WATCHDOG_USEC="200000", WATCHDOG_PID="1")
    subprocess.run(erl(ebin, "ok = build_image_systemd:ready(), timer:sleep(500), halt()."),
                   env=env, check=True, timeout=30)  # fmt: skip
    assert sock.recv(4096) == b"READY=1"
    sock.settimeout(0.2)
    with pytest.raises(TimeoutError):
        sock.recv(4096)


def test_without_notify_socket_ready_does_nothing(ebin: Path) -> None:
    body = ("ok = build_image_systemd:ready(), undefined = whereis(build_image_systemd_watchdog), "
            "[] = build_image_systemd:listen_fds(), halt().")  # fmt: skip
    subprocess.run(erl(ebin, body), env=vm_env(WATCHDOG_USEC="200000"), check=True, timeout=30)


def test_a_dead_notify_socket_is_logged_not_raised(ebin: Path, tmp_path: Path) -> None:
    # init:stop(), not halt(): the logger writes before the VM ends.
    body = "ok = build_image_systemd:ready(), init:stop()."
    env = vm_env(NOTIFY_SOCKET=str(tmp_path / "nobody-listens"))
    done = subprocess.run(erl(ebin, body), env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "READY=1 not sent" in done.stdout + done.stderr


def passed(ebin: Path, sock: socket.socket, body: str, **env: str) -> subprocess.Popen[str]:
    """erl with sock at fd 3 and LISTEN_PID its own pid, as under systemd."""
    return subprocess.Popen(
        [sys.executable, "-c", WRAPPER, str(sock.fileno()), *erl(ebin, body)],
        env=vm_env(LISTEN_FDS="1", **env), pass_fds=[sock.fileno()],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_listen_fds_hands_back_the_passed_socket_and_gen_tcp_accepts_on_it(ebin: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    body = (
        'LPid = os:getenv("LISTEN_PID"), LPid = os:getpid(), '
        '[{Name, Fd}] = build_image_systemd:listen_fds(), '
        "{ok, L} = gen_tcp:listen(0, [{fd, Fd}, binary, {active, false}]), "
        "{ok, C} = gen_tcp:accept(L, 10000), "
        'ok = gen_tcp:send(C, [Name, " ", integer_to_list(Fd)]), ok = gen_tcp:close(C), halt().'
    )
    with listener:
        vm = passed(ebin, listener, body, LISTEN_FDNAMES="http")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        answer = client.recv(4096)
    assert vm.wait(timeout=30) == 0
    assert answer == b"http 3"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, '[{"unknown",3}]'),  # no names: systemd's default name
        ({"LISTEN_PID": "1"}, "[]"),  # meant for another process
    ],
)
def test_listen_fds_names_and_owner(ebin: Path, env: dict[str, str], expected: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        body = "io:format(\"~p\", [build_image_systemd:listen_fds()]), halt()."
        if "LISTEN_PID" in env:
            # The wrapper sets its own pid; this one runs erl directly instead.
            done = subprocess.run(erl(ebin, body), env=vm_env(LISTEN_FDS="1", **env),
                                  capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
            out = done.stdout
        else:
            vm = passed(ebin, sock, body)
            out, _ = vm.communicate(timeout=30)
    assert out == expected


def test_the_module_is_clean_under_the_beam_call_audit(ebin: Path) -> None:
    beam = (ebin / "build_image_systemd.beam").read_bytes()
    path = "/release/lib/hello-0.1.0/ebin/build_image_systemd.beam"
    assert audit.audit([(path, beam)], {"build_image_systemd": beam}) == []
