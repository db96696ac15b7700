"""Running the plan on an engine (builder.build), against the in-memory engine: every path, no daemon."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import docker.errors
import pytest

from builder import build as build_module
from builder import debian
from builder.build import ASSEMBLED_FROM, LOG_TAIL, Progress, build_all, debian_rootfs
from builder.engine import DockerEngine
from builder.engine_protocol import ImageFacts
from builder.errors import BuildFailed, ConfigError, SourceError
from builder.plan import Bootstrap, Plan
from fakes import FakeEngine, ScriptedBuild, example_plan

PINNED = "registry.test/builder@sha256:" + "b" * 64


def progress_for(plan: Plan) -> Progress:
    progress = Progress(out=io.StringIO())
    progress.total = plan.steps(verify=True)
    return progress


def printed(progress: Progress) -> str:
    assert isinstance(progress.out, io.StringIO)
    return progress.out.getvalue()


def no_bootstrap(base: Bootstrap, tarball: Path) -> None:
    raise AssertionError(f"nothing should be bootstrapped: the engine has {base.image}")


def built(engine: FakeEngine) -> list[str]:
    return [ref for operation, ref in engine.calls if operation == "build"]


def test_a_build_numbers_its_steps_from_the_plan(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    assert plan.steps(verify=True) == 1 + len(plan.stages) + 2
    assert plan.steps(verify=False) == 1 + len(plan.stages) + 1


def test_cached_stages_are_not_built_and_their_ids_carried_forward(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    engine = FakeEngine()
    engine.add_image(plan.base.image)
    held = {stage.name: engine.add_image(stage.image).id for stage in plan.stages}
    progress = progress_for(plan)

    images = build_all(engine, plan, progress, no_bootstrap)

    assert list(images) == [stage.name for stage in plan.stages if stage.name in ASSEMBLED_FROM]
    assert {name: image.id for name, image in images.items()} == {name: held[name] for name in images}
    assert all(image.cached and image.tag == plan.stage(name).image for name, image in images.items())
    assert built(engine) == []
    assert printed(progress).count("cached") == len(ASSEMBLED_FROM)
    assert f"skipped {plan.stage('elixir').image} (not needed" in printed(progress)  # release is built on it
    assert f"skipped {plan.base.image} (not needed" in printed(progress)
    assert f"[{1 + len(plan.stages)}/{plan.steps(verify=True)}] launcher" in printed(progress)


class CacheBackedEngine(FakeEngine):
    """A fake engine in front of a stage cache: what ``cache`` holds is obtainable, and pulled when asked for."""

    def __init__(self, cache: set[str]) -> None:
        super().__init__()
        self.cache = cache

    def obtainable(self, ref: str) -> bool:
        return super().obtainable(ref) or ref in self.cache

    def image_facts(self, ref: str) -> ImageFacts | None:
        if ref not in self.images and ref in self.cache:
            self.calls.append(("cache pull", ref))
            self.add_image(ref)
        return super().image_facts(ref)

    def has_image(self, ref: str) -> bool:
        return self.image_facts(ref) is not None


def pulled(engine: FakeEngine) -> list[str]:
    return [ref for operation, ref in engine.calls if operation == "cache pull"]


def test_from_a_full_stage_cache_only_the_stages_the_assembler_reads_are_pulled(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    engine = CacheBackedEngine({plan.base.image, *(stage.image for stage in plan.stages)})

    images = build_all(engine, plan, progress_for(plan), no_bootstrap)

    assert pulled(engine) == [stage.image for stage in plan.stages if stage.name in ASSEMBLED_FROM]
    assert set(images) == ASSEMBLED_FROM and built(engine) == []


def test_a_stage_the_cache_lacks_has_what_it_is_built_on_pulled_first(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    launcher = plan.stage("launcher")
    engine = CacheBackedEngine({plan.base.image, *(stage.image for stage in plan.stages if stage != launcher)})

    build_all(engine, plan, progress_for(plan), no_bootstrap)

    assert pulled(engine)[0] == plan.base.image  # the launcher is built on the builder base
    assert plan.stage("elixir").image not in pulled(engine)
    assert built(engine) == [launcher.image]


def test_the_release_stage_to_build_pulls_its_parent_not_the_stages_below(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    release = plan.stage("release")
    engine = CacheBackedEngine({plan.base.image, *(stage.image for stage in plan.stages if stage != release)})

    build_all(engine, plan, progress_for(plan), no_bootstrap)

    assert pulled(engine) == [plan.stage(name).image for name in ("runtime", "otp", "elixir", "launcher")]
    assert built(engine) == [release.image]


def test_missing_stages_are_built_in_order_and_return_the_built_ids(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    engine = FakeEngine()
    engine.add_image(plan.base.image)
    for stage in plan.stages[:2]:
        engine.add_image(stage.image)

    images = build_all(engine, plan, progress_for(plan), no_bootstrap)

    rebuilt = [stage.image for stage in plan.stages[2:]]
    assert built(engine) == rebuilt
    assert [image.cached for image in images.values()] == [True, True] + [False] * len(rebuilt)
    assert all(images[stage.name].id == engine.images[stage.image].id for stage in plan.stages)


def test_a_pinned_builder_the_engine_has_is_tagged_as_the_base(tmp_path: Path) -> None:
    plan = example_plan(tmp_path, builder=PINNED)
    engine = FakeEngine()
    engine.add_image(PINNED)

    build_all(engine, plan, progress_for(plan), no_bootstrap)

    assert ("pull", PINNED) not in engine.calls
    assert engine.images[plan.base.image] == engine.images[PINNED]


def test_a_missing_pinned_builder_is_pulled_then_tagged(tmp_path: Path) -> None:
    plan = example_plan(tmp_path, builder=PINNED)
    engine = FakeEngine(registry={PINNED})
    progress = progress_for(plan)

    build_all(engine, plan, progress, no_bootstrap)

    operations = [call for call in engine.calls if call[0] in ("pull", "tag")]
    assert operations == [("pull", PINNED), ("tag", plan.base.image)]
    assert f"pulling {PINNED}" in printed(progress)


def test_a_pinned_builder_that_cannot_be_pulled_stops_before_any_stage(tmp_path: Path) -> None:
    plan = example_plan(tmp_path, builder=PINNED)
    engine = FakeEngine()

    with pytest.raises(ConfigError, match=f"cannot pull {PINNED}"):
        build_all(engine, plan, progress_for(plan), no_bootstrap)

    assert plan.base.image not in engine.images
    assert built(engine) == []


def test_the_docker_engine_explains_a_failed_pull() -> None:
    class Registry:
        def pull(self, ref: str) -> None:
            raise docker.errors.APIError("pull failed", explanation=f"manifest for {ref} not found")

    engine = DockerEngine(SimpleNamespace(api=Registry()))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as raised:
        engine.pull(PINNED)
    assert str(raised.value) == f"cannot pull {PINNED}: manifest for {PINNED} not found"
    assert "docker load" in (raised.value.hint or "") and "bases.builder" in (raised.value.hint or "")
    assert raised.value.exit_code == 3


def test_a_missing_builder_base_is_bootstrapped_and_imported(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    engine = FakeEngine()
    written: list[Bootstrap] = []

    def bootstrap(base: Bootstrap, tarball: Path) -> None:
        written.append(base)
        with tarfile.open(tarball, "w"):
            pass

    progress = progress_for(plan)
    build_all(engine, plan, progress, bootstrap)

    assert written == [plan.base]
    assert engine.calls.index(("import_rootfs", plan.base.image)) < engine.calls.index(("build", plan.stages[0].image))
    assert f"built   {plan.base.image}" in printed(progress)


def test_the_debian_bootstrap_reads_the_mirror_only_when_it_runs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian, "APT_SOURCES", tmp_path / "no-sources.list")
    monkeypatch.setattr(debian, "APT_SOURCE_PARTS", tmp_path / "no-sources.list.d")
    plan = example_plan(tmp_path)
    progress = Progress(out=io.StringIO())
    write = debian_rootfs(plan.config, progress)  # nothing read yet
    with pytest.raises(SourceError, match="no Debian mirror"):
        write(plan.base, tmp_path / "rootfs.tar")

    calls: list[tuple[object, ...]] = []
    monkeypatch.setattr(build_module, "bootstrap_rootfs", lambda *args: calls.append(args))
    mirrored = example_plan(tmp_path, mirror="http://mirror.test/debian")
    debian_rootfs(mirrored.config, progress)(mirrored.base, tmp_path / "rootfs.tar")
    assert calls == [(debian.Mirror("http://mirror.test/debian"), mirrored.base.suite, mirrored.base.packages,
                      tmp_path / "rootfs.tar", mirrored.config.source_date_epoch)]


def test_a_failed_stage_is_named_with_the_tail_of_its_log(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    engine = FakeEngine()
    engine.add_image(plan.base.image)
    release = plan.stage("release")
    log = (*tuple(f"compiling module {n}" for n in range(LOG_TAIL + 20)), "** (Mix) Could not compile")
    engine.builds[release.image] = ScriptedBuild(lines=log, error="The command returned a non-zero code: 1")

    with pytest.raises(BuildFailed) as raised:
        build_all(engine, plan, progress_for(plan), no_bootstrap)

    message = str(raised.value)
    assert message.startswith(f"stage 'release' ({release.purpose}) failed: The command returned a non-zero code: 1")
    shown = [line.removeprefix("  | ") for line in message.splitlines() if line.startswith("  | ")]
    assert shown == list(log[-LOG_TAIL:])
    assert "--verbose" in (raised.value.hint or "")
    assert plan.stage("launcher").image not in built(engine)
