"""The EPMD-less resolver: two real nodes find each other on the pinned port
with every epmd lookup pointed at a closed port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.launcher.conftest import LAUNCHER_SRC

MODULE = LAUNCHER_SRC / "erlang" / "build_image_epmd.erl"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def node_command(
    ebin: Path, name: str, interface: str, port: int, body: str
) -> list[str]:
    # -pa is applied after kernel boots, so load the module before starting
    # distribution (a release loads it from its boot script instead).
    return [
        "erl", "-noshell", "-pa", str(ebin), "-start_epmd", "false",
        "-epmd_module", "build_image_epmd", "-setcookie", "resolver-test",
        "-kernel", "inet_dist_use_interface", "{" + interface.replace(".", ",") + "}",
        "inet_dist_listen_min", str(port), "inet_dist_listen_max", str(port),
        "-eval",
        "{module, _} = code:ensure_loaded(build_image_epmd), "
        f"{{ok, _}} = net_kernel:start([list_to_atom(\"{name}@{interface}\"), longnames]), "
        + body,
    ]  # fmt: skip


def test_resolver_compiles_cleanly_and_connects_nodes(tmp_path: Path) -> None:
    assert shutil.which("erlc"), (
        "erlc is required (apt-get install erlang-nox erlang-dev)"
    )
    ebin = tmp_path / "ebin"
    ebin.mkdir()
    subprocess.run(
        ["erlc", "-Wall", "+warnings_as_errors", "-o", str(ebin), str(MODULE)],
        check=True,
    )
    port = free_port()
    env = {
        "DIST_PORT": str(port),
        "ERL_EPMD_PORT": "1",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ERL_CRASH_DUMP": str(tmp_path / "erl_crash.dump"),
    }
    ready = tmp_path / "b-ready"
    server = subprocess.Popen(
        node_command(ebin, "b", "127.0.0.2", port,
                     f'file:write_file("{ready}", <<>>), timer:sleep(20000), halt().'),
        env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        for _ in range(200):
            if ready.exists():
                break
            time.sleep(0.05)
        assert ready.exists(), "node b did not start distribution"
        client = subprocess.run(
            node_command(
                ebin, "a", "127.0.0.1", port,
                'B = list_to_atom("b@127.0.0.2"), '
                'io:format("~p ~s ~p~n", [net_adm:ping(B), '
                'rpc:call(B, os, getenv, ["DIST_PORT"]), net_adm:names()]), halt().',
            ),
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        server.kill()
        server.wait()
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() == f"pong {port} {{error,no_epmd}}"
