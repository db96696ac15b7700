"""systemd socket activation and notification through the launcher.

LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, NOTIFY_SOCKET, WATCHDOG_USEC and
WATCHDOG_PID are validated knobs that pass through to the VM unchanged.
When LISTEN_PID is the launcher's own pid, the sockets at fds 3 onwards
reach erlexec in the same process (so LISTEN_PID stays right for the VM,
which erlexec execs in place too) and never reach epmd.

A small Python wrapper plays systemd's part: it puts real sockets at fds 3
onwards, sets LISTEN_PID to its own pid and execs the launcher, which keeps
that pid.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.launcher.conftest import ReleaseTree, Run, Variant

EXIT_REFUSED = 78

#: argv: the launcher, then the fds to put at 3, 4, ...; LISTEN_PID becomes this pid.
WRAPPER = """
import fcntl, os, sys
launcher, fds = sys.argv[1], [int(fd) for fd in sys.argv[2:]]
# Out of the way first, so moving one to 3 + i never overwrites another.
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)  # as systemd passes them: at 3 onwards and nowhere else
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(launcher, [launcher])
"""


@pytest.fixture
def listening() -> Iterator[Callable[[int], list[socket.socket]]]:
    """Listening TCP sockets on 127.0.0.1, closed after the test."""
    with ExitStack() as stack:

        def make(count: int) -> list[socket.socket]:
            sockets = []
            for _ in range(count):
                sock = stack.enter_context(socket.socket())
                sock.bind(("127.0.0.1", 0))
                sock.listen()
                sockets.append(sock)
            return sockets

        yield make


def activated(tree: ReleaseTree, sockets: list[socket.socket], **env: str) -> Run:
    """The server started as systemd starts it, with sockets at fds 3 onwards."""
    for stale in tree.record_dir.glob("*.json"):
        stale.unlink()
    fds = [sock.fileno() for sock in sockets]
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, str(tree.link("server")), *map(str, fds)],
        env={**tree.base_env, "LISTEN_FDS": str(len(fds)), **env},
        pass_fds=fds, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    records = {name: tree.record_dir / f"{name}.json" for name in ("erlexec", "epmd")}
    loaded = {name: json.loads(p.read_text()) if p.exists() else None for name, p in records.items()}
    return Run(done.returncode, done.stderr, loaded["erlexec"], loaded["epmd"])


def socket_inode(sock: socket.socket) -> str:
    return f"socket:[{os.fstat(sock.fileno()).st_ino}]"


@pytest.mark.parametrize("variant", [Variant(), Variant(epmdless=True)], ids=["epmd", "epmdless"])
def test_passed_sockets_reach_erlexec_in_the_same_process_and_not_epmd(
    tree_factory: Callable[..., ReleaseTree],
    listening: Callable[[int], list[socket.socket]],
    variant: Variant,
) -> None:
    tree = tree_factory(variant)
    sockets = listening(2)
    run = activated(tree, sockets, LISTEN_FDNAMES="http:metrics")
    assert run.returncode == 0, run.stderr
    env = run.erlexec["env"]
    # erlexec runs in the launcher's process: the pid systemd named is still right.
    assert env["LISTEN_PID"] == str(run.erlexec["pid"])
    assert (env["LISTEN_FDS"], env["LISTEN_FDNAMES"]) == ("2", "http:metrics")
    inodes = [socket_inode(sock) for sock in sockets]
    assert [run.erlexec["fds"].get(fd) for fd in ("3", "4")] == inodes
    if variant.epmdless:
        assert run.epmd is None
    else:
        assert not set(inodes) & set(run.epmd["fds"].values()), run.epmd["fds"]


def test_a_passed_socket_that_is_not_open_is_refused(
    tree: ReleaseTree, listening: Callable[[int], list[socket.socket]]
) -> None:
    run = activated(tree, listening(1), LISTEN_FDS="2")
    assert run.returncode == EXIT_REFUSED
    assert run.stderr == ("server: LISTEN_FDS=2 but fd 4 is not open; the process that starts the "
                          "server must pass the sockets as fds 3 onwards\n")  # fmt: skip
    assert run.erlexec is None and run.epmd is None


def test_sockets_meant_for_another_process_are_left_alone(tree: ReleaseTree) -> None:
    """LISTEN_PID names someone else (a wrapper that did not exec): nothing is
    checked, and the variables pass on for the VM to ignore too."""
    run = tree.run("server", env={"LISTEN_FDS": "3", "LISTEN_PID": "1"})
    assert run.returncode == 0, run.stderr
    assert (run.erlexec["env"]["LISTEN_FDS"], run.erlexec["env"]["LISTEN_PID"]) == ("3", "1")


ACCEPTED = {
    "NOTIFY_SOCKET": ["/run/systemd/notify", "@/org/freedesktop/systemd1/notify/42", "/" + "n" * 106],
    "WATCHDOG_USEC": ["1", "30000000", "9" * 19],
    "WATCHDOG_PID": ["1", "2147483647"],
    "LISTEN_FDNAMES": ["unknown", "", "a b:c", "x" * 255],
}


@pytest.mark.parametrize(
    ("name", "value"), [(n, v) for n, values in ACCEPTED.items() for v in values]
)
def test_accepted_values_pass_through_unchanged(tree: ReleaseTree, name: str, value: str) -> None:
    env = {name: value}
    if name == "LISTEN_FDNAMES":
        env["LISTEN_FDS"] = str(len(value.split(":"))) if value else "0"
    run = tree.run("server", env=env)
    assert run.returncode == 0, run.stderr
    assert run.erlexec["env"].get(name, "") == value


SYSTEMD_FIX = "systemd sets it (socket activation): unset it or fix the unit"
NOTIFY = ("an AF_UNIX socket, an absolute path or '@' and an abstract name, of printable "
          "characters, at most 107", "systemd sets it (Type=notify): unset it or fix the unit")
WATCHDOG = ("a number of microseconds, 1 to 19 digits, not 0",
            "systemd sets it (WatchdogSec=): unset it or fix the unit")
PID = ("a process id in digits", SYSTEMD_FIX)
FDS = ("a number of sockets from 0 to 1024", SYSTEMD_FIX)
NAMES = ("names separated by ':', each of printable characters, at most 255",
         SYSTEMD_FIX + " (FileDescriptorName=)")
REFUSED = [
    ("LISTEN_FDS", "x", FDS), ("LISTEN_FDS", "-1", FDS), ("LISTEN_FDS", "1025", FDS),
    ("LISTEN_FDS", "00001", FDS), ("LISTEN_FDS", " 1", FDS),
    ("LISTEN_PID", "0", PID), ("LISTEN_PID", "12a", PID), ("LISTEN_PID", "2147483648", PID),
    ("LISTEN_PID", "-5", PID),
    ("LISTEN_FDNAMES", "a\tb", NAMES), ("LISTEN_FDNAMES", "x" * 256, NAMES),
    ("LISTEN_FDNAMES", "caf\u00e9", NAMES),
    ("NOTIFY_SOCKET", "run/notify", NOTIFY), ("NOTIFY_SOCKET", "/", NOTIFY),
    ("NOTIFY_SOCKET", "@", NOTIFY), ("NOTIFY_SOCKET", "vsock:2:1234", NOTIFY),
    ("NOTIFY_SOCKET", "/" + "n" * 107, NOTIFY), ("NOTIFY_SOCKET", "/run/a\nb", NOTIFY),
    ("WATCHDOG_USEC", "0", WATCHDOG), ("WATCHDOG_USEC", "1s", WATCHDOG),
    ("WATCHDOG_USEC", "1" * 20, WATCHDOG),
    ("WATCHDOG_PID", "pid", PID),
]  # fmt: skip


@pytest.mark.parametrize(("name", "value", "text"), REFUSED)
def test_a_bad_value_is_refused(
    tree: ReleaseTree, name: str, value: str, text: tuple[str, str]
) -> None:
    run = tree.run("server", env={name: value})
    shown = "".join(c if " " <= c < "\x7f" else "?" for c in value.encode().decode("latin-1"))[:64]
    accepted, fix = text
    assert run.returncode == EXIT_REFUSED, run.stderr
    assert run.stderr == f"server: {name} must be {accepted}, got '{shown}'; {fix}\n"
    assert run.erlexec is None and run.epmd is None


def test_names_and_count_must_agree(tree: ReleaseTree) -> None:
    run = tree.run("server", env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b"})
    assert run.returncode == EXIT_REFUSED
    assert run.stderr == f"server: LISTEN_FDNAMES names 2 sockets but LISTEN_FDS is 1; {SYSTEMD_FIX}\n"


def test_task_verbs_do_not_read_them(tree: ReleaseTree) -> None:
    run = tree.run("migrate", env={"NOTIFY_SOCKET": "relative", "LISTEN_FDS": "x"})
    assert run.returncode == 0, run.stderr
