"""Planning and rendering: stage keys follow exactly their inputs; renders are pure."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from builder import config as config_module
from builder import contract
from builder.plan import SYSTEMD_MODULE, make_plan
from builder.render import context_archive, generated_files, write_plan
from builder.sources import FetchedSource

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"


def fake_source(tmp_path: Path, name: str, version: str, content: bytes) -> FetchedSource:
    path = tmp_path / f"{name}-{version}.tar.gz"
    path.write_bytes(content)
    return FetchedSource(name=name, version=version, path=path, sha256=f"{name:0<64}"[:64], origin="test")


@pytest.fixture()
def inputs(tmp_path: Path):
    loaded = config_module.load(EXAMPLE)
    return loaded, fake_source(tmp_path, "otp", "27.3.4.1", b"otp"), fake_source(tmp_path, "elixir", "1.18.3", b"ex")


def images(plan) -> dict[str, str]:
    return {stage.name: stage.image for stage in plan.stages}


def test_stage_order_and_parents(inputs) -> None:
    plan = make_plan(*inputs)
    assert [s.name for s in plan.stages] == ["runtime", "otp", "elixir", "release", "launcher"]
    assert plan.stage("elixir").parent == plan.stage("otp").image
    assert plan.stage("release").parent == plan.stage("elixir").image
    assert plan.stage("otp").parent == plan.base.image == plan.stage("launcher").parent


def test_an_app_change_rebuilds_only_the_release(inputs, tmp_path: Path) -> None:
    loaded, otp, elixir = inputs
    app = tmp_path / "app"
    app.mkdir()
    (app / "mix.exs").write_text("defmodule A.MixProject do end\n")
    before = images(make_plan(dataclasses.replace(loaded, app=app), otp, elixir))
    (app / "lib.ex").write_text("defmodule A do end\n")
    after = images(make_plan(dataclasses.replace(loaded, app=app), otp, elixir))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"release"}


def test_build_directories_of_the_app_are_not_inputs(inputs, tmp_path: Path) -> None:
    loaded, otp, elixir = inputs
    app = tmp_path / "app"
    (app / "_build" / "prod").mkdir(parents=True)
    (app / "mix.exs").write_text("defmodule A.MixProject do end\n")
    plan = make_plan(dataclasses.replace(loaded, app=app), otp, elixir)
    before = plan.stage("release").image
    (app / "_build" / "prod" / "junk").write_text("x")
    assert make_plan(dataclasses.replace(loaded, app=app), otp, elixir).stage("release").image == before
    assert [name for name, _ in plan.stage("release").files if name.startswith("app/")] == ["app/mix.exs"]


def test_a_flag_change_rebuilds_otp_and_everything_after(inputs) -> None:
    loaded, otp, elixir = inputs
    before = images(make_plan(loaded, otp, elixir))
    hardening = dataclasses.replace(loaded.hardening, cflags=(*loaded.hardening.cflags, "-Wformat"))
    after = images(make_plan(dataclasses.replace(loaded, hardening=hardening), otp, elixir))
    assert {n for n in before if before[n] != after[n]} == {"otp", "elixir", "release", "launcher"}


def test_epmdless_adds_the_resolver_to_the_release_context(inputs) -> None:
    loaded, otp, elixir = inputs
    launcher = dataclasses.replace(loaded.launcher, epmdless=True)
    plan = make_plan(dataclasses.replace(loaded, launcher=launcher), otp, elixir)
    assert "build_image_epmd.erl" in dict(plan.stage("release").files)
    assert "COPY build_image_epmd.erl" in generated_files(plan.stage("release"))["Dockerfile"].decode()


@pytest.mark.parametrize("epmdless", [False, True])
def test_every_release_gets_the_systemd_application(inputs, epmdless: bool) -> None:
    """The launcher's server always runs `-s build_image_systemd ready`: a
    release without the application would not boot."""
    loaded, otp, elixir = inputs
    launcher = dataclasses.replace(loaded.launcher, epmdless=epmdless)
    release = make_plan(dataclasses.replace(loaded, launcher=launcher), otp, elixir).stage("release")
    files = dict(release.files)
    assert {f"systemd/{SYSTEMD_MODULE}.erl", f"systemd/{SYSTEMD_MODULE}.app", "require_app.exs"} <= set(files)
    dockerfile = generated_files(release)["Dockerfile"].decode()
    assert f"elixir /build/require_app.exs {SYSTEMD_MODULE} " in dockerfile
    assert f"ls /release/lib/{SYSTEMD_MODULE}-*/ebin/{SYSTEMD_MODULE}.beam" in dockerfile
    argv_c = (Path(__file__).resolve().parents[2] / "launcher" / "src" / "argv.c").read_text()
    assert f'#define SYSTEMD_MODULE "{SYSTEMD_MODULE}"' in argv_c


def test_rendered_dockerfiles_carry_the_pins_and_flags(inputs) -> None:
    plan = make_plan(*inputs)
    otp = generated_files(plan.stage("otp"))["Dockerfile"].decode()
    assert f"FROM {plan.base.image}" in otp
    assert f"{inputs[1].sha256}  /src/{inputs[1].path.name}" in otp
    assert "-D_FORTIFY_SOURCE=2" in otp and "-Wl,-z,now" in otp and "--without-common_test" in otp
    launcher = generated_files(plan.stage("launcher"))
    assert b"RELEASE_NAME=hello" in launcher["Dockerfile"]
    assert f"DIST_PORT={contract.DEFAULT_DIST_PORT}".encode() in launcher["Dockerfile"]
    assert b"Hello.Tasks.check()" in launcher["tasks.h"]


def test_context_archives_are_deterministic_and_complete(inputs) -> None:
    plan = make_plan(*inputs)
    first, second = context_archive(plan.stage("otp")).read(), context_archive(plan.stage("otp")).read()
    assert first == second
    with tarfile.open(fileobj=io.BytesIO(first)) as archive:
        names = archive.getnames()
    assert names == sorted(names) and "Dockerfile" in names and inputs[1].path.name in names


def test_render_writes_every_stage_and_the_plan(inputs, tmp_path: Path) -> None:
    written = write_plan(make_plan(*inputs), tmp_path / "out")
    assert [d.name for d in written] == ["1-runtime", "2-otp", "3-elixir", "4-release", "5-launcher"]
    assert (tmp_path / "out" / "5-launcher" / "tasks.h").is_file()
    assert (tmp_path / "out" / "4-release" / "app" / "mix.exs").is_file()
    assert '"image": "hello:latest"' in (tmp_path / "out" / "plan.json").read_text()


def test_context_files_are_dated_after_1970_so_build_tools_see_them_as_new(inputs) -> None:
    plan = make_plan(*inputs)
    with tarfile.open(fileobj=context_archive(plan.stage("release"))) as archive:
        members = archive.getmembers()
    assert members and all(m.mtime > 0 for m in members)


def test_a_pinned_builder_image_gets_its_own_base_tag(inputs) -> None:
    loaded, otp, elixir = inputs
    pinned = dataclasses.replace(loaded, bases=dataclasses.replace(
        loaded.bases, builder="example/builder@sha256:" + "a" * 64))
    bootstrapped, referenced = make_plan(loaded, otp, elixir), make_plan(pinned, otp, elixir)
    assert referenced.base.reference == "example/builder@sha256:" + "a" * 64
    assert referenced.base.image != bootstrapped.base.image
    assert referenced.stage("otp").image != bootstrapped.stage("otp").image
