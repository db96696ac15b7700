"""The image's seccomp profile: deny by default, allow what the release was seen to call.

Docker's default profile allows some 350 calls, ptrace among them.  The
release needs far fewer.  The allowlist is *observed*: the example image is
run under strace (``tests/confine/observe_syscalls.py``) through its whole
test workload (two nodes boot, serve HTTP, form the mutual-TLS cluster and
stop on SIGTERM; each task verb runs) and every call name any of its
processes made (launcher, erlexec, beam.smp, epmd) is written to
``builder/syscalls/otp-<version>.txt``, one list per OTP pin, checked in.
The profile is that list, plus :data:`MARGIN`, minus :data:`DENIED`.

When OTP or the app changes, run the observer again (the docker test tier
fails while a newly observed call is missing from the list; see
``tests/confine/README.md``).  ``build`` writes the profile beside the build
output (``.build-image/seccomp.json``), ``build-image seccomp`` writes it on
demand and ``build-image run`` passes it to ``docker run``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any, Final

from builder.config import Config
from builder.errors import ConfigError

PROFILE_NAME: Final = "seccomp.json"
_LISTS: Final = Path(__file__).resolve().parent / "syscalls"

EPERM: Final = 1
ENOSYS: Final = 38

#: Denied with EPERM whatever was observed: debugging, namespaces, mounts,
#: kernel keyrings, BPF, userfaultfd (a race primitive), perf, reading or
#: writing another process's memory, kernel modules, kexec, personality.
DENIED: Final = frozenset({
    "ptrace", "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
    "userfaultfd", "perf_event_open", "process_vm_readv", "process_vm_writev", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "personality",
    "pivot_root", "chroot", "open_by_handle_at", "name_to_handle_at", "fsopen", "fsmount",
    "move_mount", "open_tree", "swapon", "swapoff", "reboot", "acct", "quotactl", "iopl", "ioperm",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog", "vhangup", "lookup_dcookie",
})

#: Calls that must fail the way glibc probes for them.  glibc 2.36 tries
#: clone3 first and falls back to clone only on ENOSYS; EPERM would break
#: every pthread_create.
ENOSYS_CALLS: Final = frozenset({"clone3"})

#: Allowed without being observed, each for a reason:
#:
#: - ``clone``: the fallback glibc takes once clone3 answers ENOSYS; under
#:   observation clone3 succeeds, so clone is never seen.  Allowed only
#:   without namespace flags (:data:`CLONE_NAMESPACE_FLAGS`).
#: - ``execve``, ``futex``, ``nanosleep``, ``sched_yield``, ``rt_sigreturn``,
#:   ``rt_sigprocmask``, ``sigaltstack``, ``getpid``, ``gettid``, ``tgkill``,
#:   ``mmap``, ``munmap``, ``madvise``, ``write``, ``close``, ``exit``,
#:   ``exit_group``, ``fstatfs``: what runc (Go) may call between installing
#:   the filter and exec-ing the entrypoint (it checks /proc/self/fd with
#:   fstatfs before closing inherited descriptors), which strace cannot see.
#: - ``restart_syscall``, ``clock_nanosleep``: the kernel restarts an
#:   interrupted sleep with them; whether one is seen depends on timing.
#: - ``fstat``, ``newfstatat``, ``statx``, ``lseek``: glibc picks among them
#:   by call site; a path not taken in the workload may take another.
#: - ``sched_getaffinity``, ``getrusage``, ``times``: read by the VM at
#:   start or on demand (``erlang:statistics/1``).
MARGIN: Final = frozenset({
    "clone", "execve", "futex", "nanosleep", "sched_yield", "rt_sigreturn", "rt_sigprocmask",
    "sigaltstack", "getpid", "gettid", "tgkill", "mmap", "munmap", "madvise", "write", "close", "exit",
    "exit_group", "fstatfs", "restart_syscall", "clock_nanosleep", "fstat", "newfstatat", "statx", "lseek",
    "sched_getaffinity", "getrusage", "times",
})

#: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (as
#: Docker's default profile masks them): clone may make threads and
#: processes, never namespaces.
CLONE_NAMESPACE_FLAGS: Final = 0x7E020000

#: The address families ``socket`` may open: AF_UNIX, AF_INET, AF_INET6, the
#: only ones observed (epmd and erl_child_setup talk over AF_UNIX, the rest is
#: TCP/UDP).  No netlink, no packet sockets.
ADDRESS_FAMILIES: Final = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10}

_ARCHITECTURES: Final = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


def observed_calls(otp_version: str) -> frozenset[str]:
    """The checked-in list of calls observed for ``otp_version``."""
    path = list_path(otp_version)
    if not path.is_file():
        known = sorted(p.stem.removeprefix("otp-") for p in _LISTS.glob("otp-*.txt"))
        raise ConfigError(
            f"no observed system call list for OTP {otp_version} (lists exist for: {', '.join(known)})",
            hint="observe this pin from a checkout: `python3 tests/confine/observe_syscalls.py -c "
                 "build-image.yaml` (see tests/confine/README.md), and check the list in",
        )
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line)


def list_path(otp_version: str) -> Path:
    return _LISTS / f"otp-{otp_version}.txt"


def allowed_calls(observed: frozenset[str]) -> list[str]:
    """The allowlist: observed plus margin, minus the denied and ENOSYS calls."""
    return sorted((observed | MARGIN) - DENIED - ENOSYS_CALLS)


def profile(observed: frozenset[str], machine: str | None = None) -> dict[str, Any]:
    """The Docker/OCI seccomp profile for a release observed to make ``observed`` calls.

    The default action is EPERM; explicit rules for the denied calls keep
    them denied (and documented in the profile) even if an observation
    ever saw one.
    """
    arch = _ARCHITECTURES.get(machine or platform.machine())
    if arch is None:
        raise ConfigError(f"no seccomp architecture for {machine or platform.machine()}",
                          hint=f"the observed lists are for {', '.join(_ARCHITECTURES)}")
    allowed = [name for name in allowed_calls(observed) if name not in ("clone", "socket")]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": [arch],
        "syscalls": [
            {"names": allowed, "action": "SCMP_ACT_ALLOW"},
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
             "comment": "threads and processes, never new namespaces"},
            *({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 0, "value": family, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
               "comment": f"socket({name}, …)"} for name, family in sorted(ADDRESS_FAMILIES.items())),
            {"names": sorted(ENOSYS_CALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS,
             "comment": "glibc falls back to clone only on ENOSYS"},
            {"names": sorted(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM,
             "comment": "denied explicitly (builder/seccomp.py DENIED)"},
        ],
    }


def profile_for(config: Config) -> dict[str, Any]:
    """The profile of the image ``config`` builds (its OTP pin's observed list)."""
    return profile(observed_calls(config.otp.source.version))


def write_profile(config: Config, path: Path) -> Path:
    """Write the profile as JSON (stable bytes for identical inputs); return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(profile_for(config), indent=2, sort_keys=True) + "\n")
    return path
