"""examples/phoenix: a real Phoenix app with Hex dependencies, built offline and run as production would.

The packages come from the fixture repository served on the private network
(signatures checked with its key); the image must answer HTTP 200 under
least privilege, apply config/runtime.exs from the environment and form a
two-node mutual-TLS cluster, with neither ``releases:`` nor ``:ssl`` in mix.exs.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
import yaml
from conftest import EXAMPLES, BuiltApp, build_with_cli, phoenix_config

from builder.build import Progress
from builder.config import load
from builder.pipeline import prepare
from hex_repository import HexRepository
from hygiene import LABELS
from runtime_support import Node, NodeSpec, http_get, wait_for

pytestmark = pytest.mark.docker

RELEASE = "hello_phoenix"


def _json(ip: str, path: str) -> dict[str, object]:
    reply = http_get(ip, path)
    assert reply is not None and reply.status == 200, f"GET {path}: {reply}"
    return json.loads(reply.body)


def _node(run_app: Callable[[NodeSpec], Node], image: str, ip: str, certs: Path, cookie: str,
          peers: tuple[str, ...] = ()) -> Node:
    return run_app(NodeSpec(image, ip, certs, {
        "RELEASE_COOKIE": cookie, "POD_IP": ip, "SECRET_KEY_BASE": secrets.token_urlsafe(48),
        "GREETING": "set at run time", "PEERS": ",".join(f"{RELEASE}@{peer}" for peer in peers)}))


def test_the_build_names_the_release_and_uses_the_deps_stage(phoenix_app: BuiltApp) -> None:
    assert phoenix_app.tag == f"{RELEASE}:latest"
    assert f"release {RELEASE} (from mix.exs)" in phoenix_app.log
    assert "] hex: Hex 2.5.1" in phoenix_app.log and "] deps: mix deps.get --only prod" in phoenix_app.log


def test_phoenix_serves_under_least_privilege_with_runtime_config(
        phoenix_app: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str) -> None:
    ip = apps_ips["c"]
    _node(run_app, phoenix_app.tag, ip, apps_certs / "c", apps_cookie).wait_serving()
    assert _json(ip, "/health") == {"status": "ok"}
    assert _json(ip, "/greeting") == {"greeting": "set at run time"}, "config/runtime.exs was not applied"
    started = set(_json(ip, "/apps")["applications"])  # type: ignore[arg-type]
    assert {"ssl", "phoenix", "bandit", RELEASE} <= started


def test_two_phoenix_nodes_form_a_mutual_tls_cluster(
        phoenix_app: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str) -> None:
    a_ip, d_ip = apps_ips["a"], apps_ips["d"]
    a = _node(run_app, phoenix_app.tag, a_ip, apps_certs / "a", apps_cookie, peers=(d_ip,))
    d = _node(run_app, phoenix_app.tag, d_ip, apps_certs / "d", apps_cookie, peers=(a_ip,))
    a.wait_serving()
    d.wait_serving()
    wait_for("the two nodes to list each other in /nodes",
             lambda: _json(a_ip, "/nodes") == {"node": f"{RELEASE}@{a_ip}", "nodes": [f"{RELEASE}@{d_ip}"]}
             and _json(d_ip, "/nodes") == {"node": f"{RELEASE}@{d_ip}", "nodes": [f"{RELEASE}@{a_ip}"]},
             on_timeout=lambda: f"--- a:\n{a.logs()}\n--- d:\n{d.logs()}")


def test_an_app_code_change_reuses_the_compiled_deps(
        phoenix_app: BuiltApp, hex_repository: HexRepository, tmp_path: Path) -> None:
    app = tmp_path / "phoenix"
    shutil.copytree(EXAMPLES / "phoenix", app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    controller = app / "lib" / "hello_phoenix_web" / "controllers" / "status_controller.ex"
    controller.write_text(controller.read_text().replace('%{status: "ok"}', '%{status: "ok", changed: true}'))
    config = phoenix_config(hex_repository, tmp_path, app)
    config.write_text(config.read_text() + "tag: hello_phoenix-changed:test\n")  # the session's image stays
    try:
        rebuilt = build_with_cli(config, "--verbose", "--no-verify")
    finally:
        docker.from_env().images.remove("hello_phoenix-changed:test", force=True)
    assert "      cached  build-image/deps-hello_phoenix:" in rebuilt.log
    release_log = rebuilt.log.split("] release: ", 1)[1].split("] launcher: ", 1)[0]
    assert "Compiling" in release_log and "==> " not in release_log, f"dependencies were recompiled:\n{release_log}"


def test_vendored_deps_build_with_no_network(
        phoenix_app: BuiltApp, hex_repository: HexRepository, tmp_path: Path) -> None:
    client = docker.from_env()
    fetched = prepare(load(phoenix_config(hex_repository, tmp_path)), Progress(out=io.StringIO())).stage("deps")
    app = tmp_path / "vendored"
    shutil.copytree(EXAMPLES / "phoenix", app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    container = client.containers.create(fetched.image, command=["/nonexistent"], labels=LABELS)
    try:  # deps/ as `mix deps.get` leaves it, here taken from the deps stage the session's build fetched
        chunks, _ = container.get_archive("/build/app/deps")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            archive.extractall(app, filter="data")
    finally:
        container.remove(force=True)
    raw = yaml.safe_load((EXAMPLES / "phoenix" / "build-image.yaml").read_text())
    raw.update(app=str(app), tag="hello_phoenix-vendored:test")
    raw["hex"]["path"] = str(hex_repository.client)  # no repository, no network: nothing may be fetched
    config = tmp_path / "vendored.yaml"
    config.write_text(yaml.safe_dump(raw))
    try:
        built = build_with_cli(config)
    finally:
        client.images.remove("hello_phoenix-vendored:test", force=True)
    assert "] deps: deps/ as vendored, checked against mix.lock" in built.log
