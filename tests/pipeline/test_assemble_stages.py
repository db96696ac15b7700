"""The assembler takes the stage images build_all reported and reads exactly those, in memory."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from builder import contract
from builder.assemble import RELEASE_BUILD_DIR, AssembledImage, assemble
from builder.build import ASSEMBLED_FROM, StageImage, StageImages
from builder.errors import PolicyViolation
from builder.plan import Plan
from builder.verify import verify_image
from builder.verify.imagefs import read_image
from fakes import FakeEngine, example_plan

# What each stage's image holds at the path the assembler reads, as (name, content);
# None is a directory.  Just enough of a release for the assembler's rules to bite.
OUTPUTS: dict[str, tuple[str, list[tuple[str, bytes | None]]]] = {
    "release": ("/release", [
        ("release", None), ("release/bin", None), ("release/bin/hello", b"#!/bin/sh\nexec erl\n"),
        ("release/releases", None), ("release/releases/start_erl.data", b"15.2.7 0.1.0\n"),
        ("release/releases/COOKIE", b"a-cookie-that-must-not-ship"),
        ("release/erts-15.2.7", None), ("release/erts-15.2.7/bin", None),
        ("release/erts-15.2.7/bin/beam.smp", b"not an ELF, just bytes"),
        ("release/lib", None), ("release/lib/hello-0.1.0", None),
        ("release/lib/hello-0.1.0/ebin", None),
        ("release/lib/hello-0.1.0/ebin/hello.app", b"{application,hello,[]}.\n"),
    ]),
    "otp": ("/opt/otp/BUILD-INFO", [("BUILD-INFO", b"openssl 3.0.15\n")]),
    "runtime": ("/rootfs", [
        ("rootfs", None), ("rootfs/etc", None),
        ("rootfs/etc/passwd", f"nonroot:x:{contract.RUN_USER}:nonroot:{contract.RUN_HOME}:/sbin/nologin\n".encode()),
        ("rootfs/tmp", None),
    ]),
    "launcher": ("/out/launcher", [("launcher", b"the launcher binary")]),
}


# The release stage's mix compile output, which the BEAM audit reads beside the release.
UNSTRIPPED: list[tuple[str, bytes | None]] = [("_build", None)]


def tree(entries: list[tuple[str, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = (0o755, 1) if data is None or data.startswith(b"#!") else (0o644, 1)
            if data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def stage_images(plan: Plan, build: str) -> StageImages:
    """The stages build_all hands over (only ASSEMBLED_FROM: no other is needed), with IDs not derived from the tags."""
    return {s.name: StageImage(s.name, s.image, f"sha256:{build}-{s.name}", cached=False)
            for s in plan.stages if s.name in ASSEMBLED_FROM}


def engine_with(stages: StageImages) -> FakeEngine:
    engine = FakeEngine()
    for name, (path, entries) in OUTPUTS.items():
        engine.trees[(stages[name].id, path)] = tree(entries)
    engine.trees[(stages["release"].id, RELEASE_BUILD_DIR)] = tree(UNSTRIPPED)
    return engine


@pytest.fixture
def assembled(tmp_path: Path) -> tuple[FakeEngine, Plan, AssembledImage]:
    plan = example_plan(tmp_path)
    stages = stage_images(plan, "first")
    engine = engine_with(stages)
    return engine, plan, assemble(engine, plan, stages)


def test_each_stage_is_read_by_the_id_it_was_given_and_never_looked_up(
        assembled: tuple[FakeEngine, Plan, AssembledImage]) -> None:
    engine, plan, _ = assembled
    read = sorted(ref.split(":/", 1)[0] for operation, ref in engine.calls if operation == "archive_from_image")
    # the release stage twice: its release, and its _build for the BEAM audit
    assert read == sorted([*(f"sha256:first-{name}" for name in OUTPUTS), "sha256:first-release"])
    looked_up = {ref for operation, ref in engine.calls if operation in ("image_facts", "has_image")}
    assert not looked_up & {stage.image for stage in plan.stages}


def test_the_loaded_image_holds_the_release_without_scripts_or_cookie(
        assembled: tuple[FakeEngine, Plan, AssembledImage]) -> None:
    engine, _, image = assembled
    files = read_image(io.BytesIO(engine.archives[image.tag]), image.tag).files
    app = contract.APP_ROOT
    assert files[f"{app}/bin/check"].inode == files[contract.ENTRYPOINT].inode
    assert f"{app}/lib/hello-0.1.0/ebin/hello.app" in files and f"{app}/erts-15.2.7/bin/beam.smp" in files
    assert f"{app}/bin/hello" in files and files[f"{app}/bin/hello"].inode == files[contract.ENTRYPOINT].inode
    assert f"{app}/releases/COOKIE" not in files
    assert engine.images[image.tag].id == image.id and engine.images[image.tag].user == contract.RUN_USER


def test_what_the_assembler_decides_passes_the_verifier(assembled: tuple[FakeEngine, Plan, AssembledImage]) -> None:
    engine, plan, image = assembled
    report = verify_image(engine, image.tag, plan.config.verify)
    # The stand-in launcher is not an ELF file; every other check (no shell, no cookie,
    # one inode behind every verb, the run user, an empty dist-certs, …) passes.
    assert [(v.check, v.path) for v in report.violations] == [("entrypoint", contract.ENTRYPOINT)], \
        report.render_text()


def test_the_same_stage_outputs_again_reuse_the_loaded_image(
        assembled: tuple[FakeEngine, Plan, AssembledImage]) -> None:
    engine, plan, first = assembled
    rebuilt = stage_images(plan, "rebuilt")  # new engine IDs, byte-identical outputs
    for name, (path, entries) in OUTPUTS.items():
        engine.trees[(rebuilt[name].id, path)] = tree(entries)
    engine.trees[(rebuilt["release"].id, RELEASE_BUILD_DIR)] = tree(UNSTRIPPED)
    again = assemble(engine, plan, rebuilt)
    assert (again.id, again.reused) == (first.id, True)
    assert [operation for operation, _ in engine.calls].count("load_image") == 1


def test_a_release_whose_vm_args_sets_distribution_flags_is_refused_before_an_image_exists(
        tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    stages = stage_images(plan, "first")
    engine = engine_with(stages)
    path, entries = OUTPUTS["release"]
    hostile = [*entries, ("release/releases/0.1.0", None),
               ("release/releases/0.1.0/vm.args", b"+S 2:2\n## tuning\n-proto_dist inet_tcp\n-setcookie x\n")]
    engine.trees[(stages["release"].id, path)] = tree(hostile)
    with pytest.raises(PolicyViolation) as refused:
        assemble(engine, plan, stages)
    message = str(refused.value)
    assert "releases/0.1.0/vm.args line 3: -proto_dist" in message
    assert "releases/0.1.0/vm.args line 4: -setcookie" in message
    assert not [op for op, _ in engine.calls if op == "load_image"], "an image was loaded"
