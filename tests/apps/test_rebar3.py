"""rebar3 dependencies: the pinned escript (MIX_REBAR3), keyed into the deps stage, proven on a real build.

tests/apps/rebar3app depends on ``rebar_greeter`` (vendor/: a rebar.config and
an Erlang module, ``manager: :rebar3``), which only rebar3 can compile.  Its
build-image.yaml pins bookworm's ``rebar3`` package; the rebar3 stage takes
the escript out of it and sets ``MIX_REBAR3``, so nothing is downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import APPS, BuiltApp, build_with_cli

from builder import config as config_module
from builder.errors import ConfigError
from builder.plan import Plan, make_plan
from builder.sources import FetchedSource
from runtime_support import Node, NodeSpec, http_get

PINS = yaml.safe_load((APPS / "rebar3app" / "build-image.yaml").read_text())
GREETING = "hello rebar3app from rebar_greeter (built by rebar3)"


def _source(tmp_path: Path, name: str, filename: str, sha256: str = "0" * 64) -> FetchedSource:
    path = tmp_path / filename
    path.write_bytes(name.encode())
    return FetchedSource(name=name, version="3.19.0", path=path, sha256=sha256, origin="test")


def _plan(tmp_path: Path, rebar3: dict[str, object] | None, rebar3_sha256: str = "0" * 64,
          lock: bool = True) -> Plan:
    app = tmp_path / "app"
    if not app.exists():
        shutil.copytree(APPS / "rebar3app", app, ignore=shutil.ignore_patterns(".build-image", "_build", "deps"))
        if lock:
            (app / "mix.lock").write_text("%{}\n")
    raw = {key: value for key, value in PINS.items() if key != "rebar3"}
    config = config_module.parse({**raw, **({"rebar3": rebar3} if rebar3 else {}), "release": "rebar3app"},
                                 app / "build-image.yaml")
    fetched = _source(tmp_path, "rebar3", "rebar3_3.19.0-1_all.deb", rebar3_sha256) if rebar3 else None
    return make_plan(config, _source(tmp_path, "otp", "otp.tar.gz"), _source(tmp_path, "elixir", "elixir.tar.gz"),
                     None, fetched)


def test_rebar3_is_a_stage_under_deps_and_release(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"version": "3.19.0", "debian": "bookworm"})
    assert [s.name for s in plan.stages] == ["runtime", "otp", "elixir", "rebar3", "deps", "release", "launcher"]
    assert plan.stage("rebar3").parent == plan.stage("elixir").image
    assert plan.stage("deps").parent == plan.stage("rebar3").image
    assert dict(plan.stage("rebar3").variables)["deb"] is True
    assert "rebar3" in [source.name for source in plan.sources]


def test_without_a_lock_the_release_stage_is_built_on_rebar3(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"version": "3.19.0", "debian": "bookworm"}, lock=False)
    assert plan.stage("release").parent == plan.stage("rebar3").image
    assert dict(plan.stage("release").variables)["deps"] is False


def test_the_rebar3_pin_keys_deps_and_release_but_not_the_toolchain(tmp_path: Path) -> None:
    without = _plan(tmp_path, None)
    pinned = _plan(tmp_path, {"version": "3.19.0", "debian": "bookworm"})
    moved = _plan(tmp_path, {"version": "3.19.0", "debian": "bookworm"}, rebar3_sha256="1" * 64)
    for name in ("runtime", "otp", "elixir", "launcher"):
        assert without.stage(name).image == pinned.stage(name).image == moved.stage(name).image
    for name in ("deps", "release"):
        assert len({without.stage(name).image, pinned.stage(name).image, moved.stage(name).image}) == 3


def test_a_url_or_path_pin_needs_its_sha256(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rebar3.sha256: None is not allowed; expected a sha256 is required"):
        _plan(tmp_path, {"version": "3.19.0", "url": "https://example.invalid/rebar3"})


@pytest.fixture(scope="session")
def rebar3_app() -> BuiltApp:
    """tests/apps/rebar3app built once per session through ``build-image build``."""
    return build_with_cli(APPS / "rebar3app" / "build-image.yaml")


@pytest.mark.docker
def test_a_rebar3_dependency_builds_offline_and_runs(
        rebar3_app: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str) -> None:
    assert "rebar3: rebar3 3.19.0 (MIX_REBAR3)" in rebar3_app.log
    assert "(debian:bookworm/rebar3=3.19.0-1)" in rebar3_app.log
    ip = apps_ips["c"]
    node = run_app(NodeSpec(rebar3_app.tag, ip, apps_certs / "c", {"RELEASE_COOKIE": apps_cookie, "POD_IP": ip}))
    node.wait_serving()
    reply = http_get(ip, "/greeting")
    assert reply is not None and reply.status == 200, f"GET /greeting: {reply}"
    # "built by rebar3": the macro that says so is defined only in the dependency's rebar.config.
    assert reply.body.decode() == GREETING
    started = http_get(ip, "/apps")
    assert started is not None and "rebar_greeter" in started.body.decode().split(",")
