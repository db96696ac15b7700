"""Run the launcher under a reaper that never reaps, the way a container's
PID 1 behaves once the launcher has exec'd the VM.

    python reaper_harness.py LAUNCHER RECORD_DIR [--ignore-sigchld]

The harness makes itself the child subreaper (PR_SET_CHILD_SUBREAPER), so
every process orphaned below it is reparented to it, exactly as to PID 1 in
a container.  It starts the launcher with the environment it was given,
waits until the launcher has exec'd the (fake) erlexec and the epmd daemon
has been handed on to the harness, and then, without reaping anything,
prints a JSON report of the processes whose parent it is.  Afterwards it
kills and reaps everything it started, so no test leaves processes behind.

A separate process and not the pytest process itself: a subreaper pytest
would collect the orphans of every other test.

``--ignore-sigchld`` starts the launcher with SIGCHLD set to SIG_IGN, as
some supervisors leave it: an ignored disposition survives exec.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
SETTLE_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.01


def become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, one, zero, zero, zero) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"PR_SET_CHILD_SUBREAPER: {os.strerror(errno)}")


def process(pid: int) -> dict | None:
    """State, parent and name of pid from /proc, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The name is in parentheses and may contain spaces; the fields follow it.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return {"pid": pid, "name": name, "state": fields[0], "ppid": int(fields[1])}


def children_of(parent: int) -> list[dict]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = process(int(entry.name))
            if info is not None and info["ppid"] == parent:
                found.append(info)
    return sorted(found, key=lambda info: info["pid"])


def read_pid(path: Path) -> int | None:
    return int(path.read_text()) if path.exists() else None


def settled(record_dir: Path) -> bool:
    """erlexec runs in the launcher's place and the epmd daemon has ended up
    where it stays: handed on to us alive, dead as our zombie, or reaped."""
    daemon = read_pid(record_dir / "epmd-daemon.pid")
    if daemon is None or not (record_dir / "erlexec.json").exists():
        return False
    info = process(daemon)
    return info is None or info["state"] == "Z" or info["ppid"] == os.getpid()


def observe(launcher: subprocess.Popen, record_dir: Path) -> dict:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while not settled(record_dir):
        if launcher.poll() is not None:
            return {"error": f"the launcher exited with {launcher.returncode}"}
        if time.monotonic() > deadline:
            return {"error": "erlexec never ran or the epmd daemon never reached us"}
        time.sleep(POLL_SECONDS)
    pids = {
        role: read_pid(record_dir / f"epmd-{role}.pid")
        for role in ("direct", "intermediate", "daemon")
    }
    return {
        "harness_pid": os.getpid(),
        "launcher_pid": launcher.pid,
        "epmd_pids": pids,
        "intermediate": process(pids["intermediate"]),
        "daemon": process(pids["daemon"]),
        "children": children_of(os.getpid()),
    }


def clean_up(launcher: subprocess.Popen, record_dir: Path) -> None:
    daemon = read_pid(record_dir / "epmd-daemon.pid")
    for pid in (daemon, launcher.pid):
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    launcher.wait()
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def ignore_sigchld() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)


def main(launcher_path: str, record_dir: str, *options: str) -> None:
    become_subreaper()
    records = Path(record_dir)
    preexec = ignore_sigchld if "--ignore-sigchld" in options else None
    with open(records / "launcher.stderr", "w") as stderr:
        launcher = subprocess.Popen(
            [launcher_path],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            preexec_fn=preexec,
        )
    try:
        report = observe(launcher, records)
    finally:
        clean_up(launcher, records)
    report["launcher_stderr"] = (records / "launcher.stderr").read_text()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:])
