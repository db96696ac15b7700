"""Projects build as they are: no ``releases:``, no ``:ssl``, an umbrella, include_erts: false.

Each image is built through ``build-image build`` from a build-image.yaml
holding the pins (and, for the umbrella, which release), then started as
production would run it, and asked over HTTP whether it booted with what
the build promised: TLS distribution (ssl started), the node name from the
release, config/runtime.exs applied from the environment.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest
from conftest import APPS, BuiltApp, build_with_cli

from builder.errors import BuildFailed
from runtime_support import Node, NodeSpec, http_get, image_file

pytestmark = pytest.mark.docker


def _serve(run_app: Callable[[NodeSpec], Node], image: str, ip: str, certs: Path, cookie: str) -> Node:
    node = run_app(NodeSpec(image, ip, certs, {"RELEASE_COOKIE": cookie, "POD_IP": ip,
                                               "GREETING": "set at run time"}))
    node.wait_serving()
    return node


def _get(ip: str, path: str) -> str:
    reply = http_get(ip, path)
    assert reply is not None and reply.status == 200, f"GET {path}: {reply}"
    return reply.body.decode()


def test_a_plain_project_names_its_release_itself(plain_app: BuiltApp) -> None:
    assert plain_app.tag == "plainapp:latest"
    assert "release plainapp (from mix.exs)" in plain_app.log


def test_overlay_shell_scripts_are_named_when_left_out(plain_app: BuiltApp) -> None:
    assert "left out: rel/overlays/bin/migrate is a shell script" in plain_app.log


def test_a_plain_project_without_ssl_boots_with_tls_distribution(
        plain_app: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str) -> None:
    ip = apps_ips["a"]
    _serve(run_app, plain_app.tag, ip, apps_certs / "a", apps_cookie)
    assert _get(ip, "/nodes") == f"plainapp@{ip}"
    assert {"ssl", "public_key", "crypto", "plainapp"} <= set(_get(ip, "/apps").split(","))
    assert _get(ip, "/greeting") == "set at run time", "config/runtime.exs was not applied"


def test_the_umbrella_builds_the_release_it_names(umbrella_back: BuiltApp) -> None:
    assert umbrella_back.tag == "back:latest"
    assert "[5/8] release: mix release back" in umbrella_back.log


def test_an_umbrella_release_without_erts_or_ssl_boots(
        umbrella_back: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str, docker_client: docker.DockerClient) -> None:
    ip = apps_ips["b"]
    _serve(run_app, umbrella_back.tag, ip, apps_certs / "b", apps_cookie)
    assert _get(ip, "/release") == "back"
    assert _get(ip, "/nodes") == f"back@{ip}"
    started = set(_get(ip, "/apps").split(","))
    assert {"ssl", "back", "shared"} <= started and "front" not in started
    assert _get(ip, "/greeting") == "set at run time"
    _erts, version = image_file(docker_client, umbrella_back.tag, "/app/releases/start_erl.data").split()
    assert version == "0.4.0"
    rel = image_file(docker_client, umbrella_back.tag, f"/app/releases/{version}/back.rel")
    assert "{ssl," in rel and "{front," not in rel, rel


def test_hex_dependencies_without_a_lock_are_refused(tmp_path: Path) -> None:
    app = tmp_path / "plainapp"
    shutil.copytree(APPS / "plainapp", app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    mix = app / "mix.exs"
    mix.write_text(mix.read_text().replace("deps: []", 'deps: [{:jason, "~> 1.4"}]'))
    (app / "NONCE").write_text(uuid.uuid4().hex)  # new step images, never cached ones
    started = datetime.now(UTC)
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c", str(app / "build-image.yaml"),
                           "--verbose"], capture_output=True, text=True, check=False)
    assert done.returncode == BuildFailed.exit_code, done.stderr
    assert "there is no mix.lock: run mix deps.get and commit mix.lock (no unpinned builds)" in done.stderr
    release_log = done.stderr.split("] release: ", 1)[1]
    steps = re.findall(r"^ +---> ([0-9a-f]{12})$", release_log, re.M)
    assert steps, release_log
    client = docker.from_env()
    made = [step for step in steps if _made_since(client, step, started)]  # cached steps are older
    assert not made, f"the failed build left step images behind: {made}"


def _made_since(client: docker.DockerClient, image: str, since: datetime) -> bool:
    try:
        created = client.images.get(image).attrs["Created"]
    except docker.errors.ImageNotFound:
        return False
    return datetime.fromisoformat(created[:26].rstrip("Z") + "+00:00") >= since


def test_verify_without_a_config_gives_the_builds_verdict(plain_app: BuiltApp) -> None:
    done = subprocess.run([sys.executable, "-m", "builder", "verify", plain_app.tag],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _with_path_dep(tmp_path: Path, where: str) -> Path:
    """tests/apps/plainapp depending on a small library at ``where`` (relative to the app)."""
    app = tmp_path / "plainapp"
    shutil.copytree(APPS / "plainapp", app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    lib = (app / where).resolve()
    (lib / "lib").mkdir(parents=True)
    (lib / "mix.exs").write_text('defmodule Greeter.MixProject do\n  use Mix.Project\n'
                                 '  def project, do: [app: :greeter, version: "0.1.0"]\nend\n')
    (lib / "lib" / "greeter.ex").write_text('defmodule Greeter do\n  def hello, do: "hi"\nend\n')
    mix = app / "mix.exs"
    mix.write_text(mix.read_text().replace("deps: []", f'deps: [{{:greeter, path: "{where}"}}]'))
    config = app / "build-image.yaml"
    config.write_text(config.read_text() + f"tag: plainapp-pathdep-{uuid.uuid4().hex[:8]}:test\n")
    return config


def test_a_path_dependency_inside_the_project_builds(tmp_path: Path) -> None:
    built = build_with_cli(_with_path_dep(tmp_path, "libs/greeter"), "--no-verify")
    docker.from_env().images.remove(built.tag, force=True)


def test_a_path_dependency_outside_the_project_is_named(tmp_path: Path) -> None:
    config = _with_path_dep(tmp_path, "../greeter")
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c", str(config)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == BuildFailed.exit_code, done.stderr
    assert 'path dependencies outside the project cannot be built' in done.stderr
    assert ':greeter (path: "../greeter")' in done.stderr
