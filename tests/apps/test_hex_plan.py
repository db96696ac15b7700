"""Hex in the config and the plan: the client pinned like OTP, a deps stage keyed on what decides the deps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from builder import config as config_module
from builder.errors import ConfigError
from builder.plan import make_plan
from builder.render import generated_files
from builder.sources import FetchedSource

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "phoenix"
LOCK_LINE = '  "jason": {:hex, :jason, "1.4.4", "0", [:mix], [], "hexpm", "0"},\n'


def _project(tmp_path: Path, lock: str | None = "%{\n" + LOCK_LINE + "}\n") -> Path:
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("_build", "deps", "mix.lock", "build-image.yaml"))
    if lock is not None:
        (app / "mix.lock").write_text(lock)
    return app


def _config(app: Path, hex_section: dict[str, object] | None, **extra: object) -> config_module.Config:
    raw = yaml.safe_load((EXAMPLE / "build-image.yaml").read_text())
    raw.pop("hex")
    client = app / "hex-2.5.1.tar.gz"
    client.write_bytes(b"hex source")
    if hex_section is not None:
        raw["hex"] = {"version": "2.5.1", "path": str(client), "sha256": "0" * 64, **hex_section}
    return config_module.parse({**raw, **extra, "release": "hello_phoenix"}, app / "build-image.yaml")


def _source(tmp_path: Path, name: str, path: Path | None = None) -> FetchedSource:
    if path is None:
        path = tmp_path / f"{name}.tar.gz"
        path.write_bytes(name.encode())
    return FetchedSource(name=name, version="2.5.1", path=path, sha256="0" * 64, origin="test")


def _plan(tmp_path: Path, config: config_module.Config):
    hex_client = _source(tmp_path, "hex", config.hex.client.path) if config.hex else None
    return make_plan(config, _source(tmp_path, "otp"), _source(tmp_path, "elixir"), hex_client)


def test_a_lock_with_hex_packages_needs_a_pinned_client(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hex: None is not allowed; expected a pinned Hex client: mix.lock pins"):
        _config(_project(tmp_path), None)


def test_a_private_repository_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"hex.repository.public_key: None .* signatures are checked"):
        _config(_project(tmp_path), {"repository": {"url": "https://hex.example"}})


def test_the_client_is_pinned_by_url_or_path_not_debian(tmp_path: Path) -> None:
    app = _project(tmp_path)
    raw_hex = {"version": "2.5.1", "debian": "trixie"}
    raw = yaml.safe_load((EXAMPLE / "build-image.yaml").read_text())
    with pytest.raises(ConfigError, match=r"hex.debian: 'trixie' is not allowed; expected url or path"):
        config_module.parse({**raw, "hex": raw_hex}, app / "build-image.yaml")


def test_stages_in_order_with_hex_and_deps(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _config(_project(tmp_path), {}))
    assert [s.name for s in plan.stages] == ["runtime", "otp", "elixir", "hex", "deps", "release", "launcher"]
    assert plan.stage("hex").parent == plan.stage("elixir").image
    assert plan.stage("deps").parent == plan.stage("hex").image
    assert plan.stage("release").parent == plan.stage("deps").image


def test_the_deps_stage_sees_only_what_decides_the_dependencies(tmp_path: Path) -> None:
    app = _project(tmp_path)
    (app / "config" / "prod.exs").write_text("import Config\n")
    (app / "config" / "dev.exs").write_text("import Config\n")
    files = sorted(name for name, _ in _plan(tmp_path, _config(app, {})).stage("deps").files)
    assert files == ["app/config/config.exs", "app/config/prod.exs", "app/mix.exs", "app/mix.lock", "path_deps.exs"]


def test_code_and_runtime_config_changes_reuse_the_deps_stage_a_lock_change_does_not(tmp_path: Path) -> None:
    app = _project(tmp_path)
    before = _plan(tmp_path, _config(app, {})).stage("deps").image
    (app / "lib" / "hello_phoenix" / "peers.ex").write_text("# changed\n")
    (app / "config" / "runtime.exs").write_text("import Config\n")
    assert _plan(tmp_path, _config(app, {})).stage("deps").image == before
    (app / "mix.lock").write_text("%{\n" + LOCK_LINE.replace("1.4.4", "1.4.5") + "}\n")
    assert _plan(tmp_path, _config(app, {})).stage("deps").image != before


def test_signature_checks_are_on_unless_turned_off_by_name(tmp_path: Path) -> None:
    app = _project(tmp_path)
    key = app / "key.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n")
    checked = _plan(tmp_path, _config(app, {"repository": {"url": "http://10.0.0.5:8000", "public_key": str(key)}}))
    dockerfile = generated_files(checked.stage("deps"))["Dockerfile"].decode()
    assert "mix hex.repo set hexpm --url http://10.0.0.5:8000 --public-key" in dockerfile
    assert "HEX_UNSAFE_REGISTRY" not in dockerfile and "--check-locked" in dockerfile
    unsafe = _plan(tmp_path, _config(app, {"unsafe_skip_signature_check": True}))
    assert "HEX_UNSAFE_REGISTRY=1" in generated_files(unsafe.stage("deps"))["Dockerfile"].decode()


def test_the_fetch_network_is_not_an_input(tmp_path: Path) -> None:
    app = _project(tmp_path)
    one = _plan(tmp_path, _config(app, {"network": "one"})).stage("deps")
    two = _plan(tmp_path, _config(app, {"network": "two"})).stage("deps")
    assert (one.network, two.network) == ("one", "two") and one.image == two.image


def test_without_a_lock_there_is_no_deps_stage(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _config(_project(tmp_path, lock=None), None))
    assert "deps" not in [s.name for s in plan.stages]
    assert "no mix.lock" in generated_files(plan.stage("release"))["Dockerfile"].decode()


def test_vendored_deps_are_sources_only_and_build_without_network(tmp_path: Path) -> None:
    app = _project(tmp_path)
    (app / "deps" / "jason" / "lib").mkdir(parents=True)
    (app / "deps" / "jason" / "mix.exs").write_text("defmodule Jason.MixProject do end\n")
    (app / "deps" / "jason" / "lib" / "jason.ex").write_text("defmodule Jason do end\n")
    (app / "deps" / "jason" / "_build" / "prod").mkdir(parents=True)
    (app / "deps" / "jason" / "_build" / "prod" / "junk").write_text("host build output\n")
    deps = _plan(tmp_path, _config(app, {"network": "private"})).stage("deps")
    names = [name for name, _ in deps.files]
    assert "app/deps/jason/lib/jason.ex" in names and not any("_build" in name for name in names)
    assert deps.network == "none"
    dockerfile = generated_files(deps)["Dockerfile"].decode()
    assert "mix deps.loadpaths" in dockerfile and "deps.get" not in dockerfile
