"""Build the real launcher and run it against fake release trees.

The launcher is compiled with the real Makefile into a temporary directory
(once per build variant and session).  A fake release tree carries a
start_erl.data and fake ``erlexec``/``epmd`` programs that record their argv
and environment as JSON, so tests assert exactly what the launcher hands
over without a BEAM.

``LAUNCHER_SANITIZE=1`` selects the ASan+UBSan build (``make asan``) for every
test here; sanitizer reports make the launcher exit non-zero, which fails the
test that triggered them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from builder.tasks import render_task_header

REPO = Path(__file__).resolve().parents[2]
LAUNCHER_SRC = REPO / "launcher"
RELEASE_NAME = "hello"
DIST_PORT = "24369"
ERTS_VSN = "15.2.3"
REL_VSN = "0.1.0"
STRONG_COOKIE = "c" * 20 + "0123456789ABCDEFGHIJ"
TASKS = {
    "migrate": "Hello.Release.migrate()",
    "seed": 'IO.puts("a \\"quoted\\" ??= \\\\ tab\there\nnext line é")',
}
SANITIZE = os.environ.get("LAUNCHER_SANITIZE") == "1"
SANITIZER_ENV = {
    "ASAN_OPTIONS": "abort_on_error=0:exitcode=99:detect_leaks=1",
    "UBSAN_OPTIONS": "halt_on_error=1:exitcode=98:print_stacktrace=1",
}

_FAKE_PROGRAM = """#!{python}
import json, os, stat, sys, time
record = {{"argv": sys.argv, "env": dict(os.environ), "pid": os.getpid(), "cwd": os.getcwd()}}
with open("/proc/self/status") as status:
    masks = dict(line.split(":", 1) for line in status if line.startswith(("SigBlk:", "SigIgn:")))
record["blocked_signals"] = masks["SigBlk"].strip()
record["ignored_signals"] = masks["SigIgn"].strip()
# Every fd this process holds (socket activation: fds 3.. must reach the VM, not epmd).
fd_dir = "/proc/self/fd"
record["fds"] = {{}}
for fd in os.listdir(fd_dir):
    try:
        record["fds"][fd] = os.readlink(os.path.join(fd_dir, fd))
    except OSError:
        pass  # the directory's own fd, gone once listed
home = os.environ.get("HOME", "")
cookie = os.path.join(home, ".erlang.cookie")
if home and os.path.exists(cookie):
    record["cookie"] = open(cookie).read()
    record["cookie_mode"] = stat.S_IMODE(os.stat(cookie).st_mode)
    record["home_mode"] = stat.S_IMODE(os.stat(home).st_mode)
sys_config = os.environ.get("RELEASE_SYS_CONFIG", "") + ".config"
if os.path.exists(sys_config):
    record["sys_config"] = open(sys_config).read()
path = os.path.join(os.environ["FAKE_RECORD_DIR"], "{name}.json")
with open(path + ".tmp", "w") as out:
    json.dump(record, out)
os.replace(path + ".tmp", path)  # readers polling for the record never see half of it
# Seconds to stay alive after recording, as a VM would (the reaping tests).
time.sleep(float(os.environ.get("FAKE_{upper}_HOLD", "0")))
sys.exit(int(os.environ.get("FAKE_{upper}_EXIT", "0")))
"""


@dataclass(frozen=True)
class Variant:
    """One build configuration of the launcher."""

    require_tls: bool = True
    epmdless: bool = False
    # launcher.vm_flags: argv words compiled into the launcher (LAUNCHER_VM_FLAGS).
    vm_flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Run:
    """What one launcher invocation did."""

    returncode: int
    stderr: str
    erlexec: dict | None
    epmd: dict | None


@dataclass(frozen=True)
class ReleaseTree:
    """A fake release at ``root`` with the launcher hardlinked into bin/."""

    root: Path
    binary: Path
    record_dir: Path
    release_tmp: Path
    erts_vsn: str = ERTS_VSN
    base_env: dict[str, str] = field(default_factory=dict)

    @property
    def bindir(self) -> Path:
        return self.root / f"erts-{self.erts_vsn}" / "bin"

    @property
    def rel_dir(self) -> Path:
        return self.root / "releases" / REL_VSN

    def release_env(self, *dropped: str) -> dict[str, str]:
        """What every command hands erlexec, as the stock scripts set it:
        the caller's environment less the cookie (and ``dropped``) plus the
        release variables common to ``server`` and task verbs."""
        root = str(self.root)
        env = {k: v for k, v in self.base_env.items() if k not in ("RELEASE_COOKIE", *dropped)}
        env.update({
            "ROOTDIR": root,
            "BINDIR": str(self.bindir),
            "EMU": "beam",
            "PROGNAME": "erl",
            "RELEASE_ROOT": root,
            "RELEASE_NAME": RELEASE_NAME,
            "RELEASE_VSN": REL_VSN,
            "RELEASE_MODE": "embedded",
            "RELEASE_TMP": str(self.release_tmp),
            "RELEASE_VM_ARGS": f"{self.rel_dir}/vm.args",
            "ERL_CRASH_DUMP_SECONDS": "0",
        })
        return env

    def link(self, name: str) -> Path:
        """Hardlink the launcher at bin/<name>: the multi-call entry points."""
        target = self.root / "bin" / name
        if not target.exists():
            os.link(self.binary, target)
        return target

    def run(
        self,
        name: str,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
    ) -> Run:
        for stale in self.record_dir.glob("*.json"):
            stale.unlink()
        full_env = dict(self.base_env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        exe = self.link(name)
        done = subprocess.run(
            [str(exe), *args],
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return Run(
            returncode=done.returncode,
            stderr=done.stderr,
            erlexec=self._record("erlexec"),
            epmd=self._record("epmd"),
        )

    def _record(self, name: str) -> dict | None:
        path = self.record_dir / f"{name}.json"
        return json.loads(path.read_text()) if path.exists() else None

    def tmp_entries(self) -> list[str]:
        return sorted(p.name for p in self.release_tmp.iterdir())


def build_launcher(out: Path, variant: Variant, tasks_header: Path) -> Path:
    """Compile the launcher with the real Makefile; OUT outside the sources."""
    target = "asan" if SANITIZE else "all"
    command = [
        "make",
        "-s",
        "-C",
        str(LAUNCHER_SRC),
        target,
        f"OUT={out}",
        f"RELEASE_NAME={RELEASE_NAME}",
        f"DIST_PORT={DIST_PORT}",
        f"REQUIRE_TLS={int(variant.require_tls)}",
        f"EPMDLESS={int(variant.epmdless)}",
        f"TASKS_HEADER={tasks_header}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"launcher build failed:\n{done.stdout}\n{done.stderr}"
    return out


@pytest.fixture(scope="session")
def launcher_binary(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[Variant], Path]:
    """Variant -> built binary, each variant compiled once per session."""
    built: dict[Variant, Path] = {}

    def get(variant: Variant) -> Path:
        if variant not in built:
            directory = tmp_path_factory.mktemp("launcher")
            header = directory / "tasks.h"
            header.write_text(render_task_header(TASKS, vm_flags=variant.vm_flags))
            built[variant] = build_launcher(directory / "server", variant, header)
        return built[variant]

    return get


def write_fake(path: Path, name: str) -> None:
    path.write_text(
        _FAKE_PROGRAM.format(python=sys.executable, name=name, upper=name.upper())
    )
    path.chmod(0o755)


def make_tree(
    base: Path,
    binary: Path,
    *,
    erts_vsn: str = ERTS_VSN,
    runtime_config: bool = False,
) -> ReleaseTree:
    root = base / "app"
    record_dir = base / "record"
    release_tmp = base / "release-tmp"
    for directory in (
        root / "bin",
        record_dir,
        release_tmp,
        root / "dist",
        root / "dist-certs",
    ):
        directory.mkdir(parents=True)
    tree = ReleaseTree(root, binary, record_dir, release_tmp, erts_vsn=erts_vsn)
    tree.bindir.mkdir(parents=True)
    tree.rel_dir.mkdir(parents=True)
    (root / "releases" / "start_erl.data").write_text(f"{erts_vsn} {REL_VSN}\n")
    marker = "true" if runtime_config else "false"
    (tree.rel_dir / "sys.config").write_text(
        f"%% coding: utf-8\n%% RUNTIME_CONFIG={marker}\n[].\n"
    )
    (tree.rel_dir / "vm.args").write_text("+fnu\n")
    write_fake(tree.bindir / "erlexec", "erlexec")
    write_fake(tree.bindir / "epmd", "epmd")
    (root / "dist" / "inet_tls.config").write_text("[].\n")
    for pem in ("dist-cert.pem", "dist-key.pem", "dist-ca.pem"):
        (root / "dist-certs" / pem).write_text("-----BEGIN FAKE-----\n")
    tree.base_env.update(
        {
            "FAKE_RECORD_DIR": str(record_dir),
            "RELEASE_TMP": str(release_tmp),
            "RELEASE_COOKIE": STRONG_COOKIE,
            "POD_IP": "10.1.2.3",
            # A UTF-8 locale stops the fake (Python) erlexec adding LC_CTYPE itself.
            "LC_ALL": "C.UTF-8",
        }
    )
    if SANITIZE:
        tree.base_env.update(SANITIZER_ENV)
    return tree


@pytest.fixture
def tree_factory(
    tmp_path: Path, launcher_binary: Callable[[Variant], Path]
) -> Callable[..., ReleaseTree]:
    """Fresh release trees for this test, built against a launcher variant."""
    counter = iter(range(1000))

    def create(variant: Variant = Variant(), **kwargs: object) -> ReleaseTree:
        base = tmp_path / f"tree{next(counter)}"
        return make_tree(base, launcher_binary(variant), **kwargs)  # type: ignore[arg-type]

    return create


@pytest.fixture
def tree(tree_factory: Callable[..., ReleaseTree]) -> ReleaseTree:
    """The default tree: TLS required, epmd on, ERTS 15 (OTP 27)."""
    return tree_factory()


def run_with_header(tmp_path: Path, header: Path, main: str) -> subprocess.CompletedProcess[bytes]:
    """Compile ``main`` (C source) with ``header`` force-included, warnings as errors, and run it."""
    program, exe = tmp_path / "program.c", tmp_path / "program"
    program.write_text(main)
    subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-include", str(header), str(program), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    return subprocess.run([str(exe)], check=False, capture_output=True)


def copy_launcher_sources(destination: Path) -> Path:
    """A private copy of launcher/ for tests that check what make writes."""
    shutil.copytree(LAUNCHER_SRC, destination)
    return destination
