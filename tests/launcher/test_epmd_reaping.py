"""No zombie epmd: the launcher reaps epmd's double fork before it execs.

In a container the launcher is PID 1 and then becomes the VM, which never
reaps children it did not start.  `epmd -daemon` forks twice; the
intermediate process is orphaned and, unless the launcher deals with it,
ends as a zombie of PID 1 for the life of the container.  These tests run
the real launcher under reaper_harness.py, a subreaper that (like the VM)
reaps nothing, with a fake epmd that daemonizes exactly as epmd does.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from tests.launcher.conftest import ReleaseTree

HARNESS = Path(__file__).with_name("reaper_harness.py")

# epmd's run_daemon(): fork, the parent exits; setsid; fork again, the
# intermediate exits; the daemon leaves the cwd and stdio, then listens and
# runs on, or exits at once when another epmd already holds the port
# (FAKE_EPMD_PORT_TAKEN=1), as the real one does.
_DAEMONIZING_EPMD = """#!{python}
import os, socket, sys, time
records = os.environ["FAKE_RECORD_DIR"]
assert sys.argv[1:] == ["-daemon"], sys.argv


def note(role):
    path = os.path.join(records, "epmd-" + role + ".pid")
    with open(path + ".tmp", "w") as out:
        out.write(str(os.getpid()))
    os.replace(path + ".tmp", path)


note("direct")
if os.fork() > 0:
    os._exit(0)
os.setsid()
note("intermediate")
if os.fork() > 0:
    os._exit(0)
os.chdir("/")
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
with open("/proc/self/status") as status:
    blocked = [line.split()[1] for line in status if line.startswith("SigBlk:")][0]
with open(os.path.join(records, "epmd-daemon.sigblk"), "w") as out:
    out.write(blocked)
if os.environ.get("FAKE_EPMD_PORT_TAKEN") == "1":
    note("daemon")
    sys.exit(0)
listener = socket.create_server(("127.0.0.1", 0))
note("daemon")
time.sleep(120)  # the harness kills it; this only bounds a leak if it cannot
"""

NO_SIGNALS = "0000000000000000"


def run_under_reaper(
    tree: ReleaseTree, *options: str, **env_extra: str
) -> dict:
    epmd = tree.bindir / "epmd"
    epmd.write_text(_DAEMONIZING_EPMD.format(python=sys.executable))
    env = {**tree.base_env, "FAKE_ERLEXEC_HOLD": "120", **env_extra}
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(tree.link("server")), str(tree.record_dir),
         *options],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert "error" not in report, report
    return report


def test_no_zombie_epmd_after_the_exec(tree: ReleaseTree) -> None:
    report = run_under_reaper(tree)
    erlexec = json.loads((tree.record_dir / "erlexec.json").read_text())
    # The launcher process itself became erlexec, as it becomes the VM.
    assert erlexec["pid"] == report["launcher_pid"]
    zombies = [child for child in report["children"] if child["state"] == "Z"]
    assert zombies == [], report
    # The intermediate was reaped (gone from /proc), not handed to the reaper.
    assert report["intermediate"] is None, report
    assert report["epmd_pids"]["intermediate"] is not None


def test_epmd_daemon_lives_on_under_the_reaper(tree: ReleaseTree) -> None:
    report = run_under_reaper(tree)
    daemon = report["daemon"]
    assert daemon is not None, report
    assert daemon["name"] == "epmd"
    assert daemon["state"] != "Z"
    assert daemon["ppid"] == report["harness_pid"]
    children = {child["pid"] for child in report["children"]}
    assert children == {report["launcher_pid"], daemon["pid"]}, report
    assert report["launcher_stderr"] == ""


def test_no_signal_stays_blocked_in_the_vm_or_the_daemon(tree: ReleaseTree) -> None:
    """The helper blocks SIGCHLD for itself only: SIGTERM must reach the VM."""
    run_under_reaper(tree)
    erlexec = json.loads((tree.record_dir / "erlexec.json").read_text())
    assert erlexec["blocked_signals"] == NO_SIGNALS
    assert (tree.record_dir / "epmd-daemon.sigblk").read_text() == NO_SIGNALS


def test_a_daemon_that_cannot_bind_is_reaped_before_the_exec(tree: ReleaseTree) -> None:
    """Another epmd already serves the port (a shared pod network, hostNetwork):
    the new daemon exits at once and must not become PID 1's zombie."""
    report = run_under_reaper(tree, FAKE_EPMD_PORT_TAKEN="1")
    assert report["epmd_pids"]["daemon"] is not None
    assert report["daemon"] is None, report
    assert report["intermediate"] is None, report
    children = [child["pid"] for child in report["children"]]
    assert children == [report["launcher_pid"]], report
    assert report["launcher_stderr"] == ""


SIGCHLD_BIT = 1 << (signal.SIGCHLD - 1)


def test_an_inherited_ignored_sigchld_is_reset(tree: ReleaseTree) -> None:
    """With SIGCHLD ignored the kernel reaps children itself: waitpid() for
    epmd failed (exit 70) and left an epmd behind.  The launcher resets it,
    so the reaping works as above and the VM gets the default disposition."""
    report = run_under_reaper(tree, "--ignore-sigchld")
    assert report["launcher_stderr"] == ""
    erlexec = json.loads((tree.record_dir / "erlexec.json").read_text())
    assert erlexec["pid"] == report["launcher_pid"]
    assert not int(erlexec["ignored_signals"], 16) & SIGCHLD_BIT
    assert report["intermediate"] is None, report
    daemon = report["daemon"]
    assert daemon is not None and daemon["state"] != "Z", report
    assert daemon["ppid"] == report["harness_pid"]
    children = {child["pid"] for child in report["children"]}
    assert children == {report["launcher_pid"], daemon["pid"]}, report

