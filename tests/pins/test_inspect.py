"""``build-image inspect``: what an image is built from, from its labels and SBOM, with no config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from builder import records
from builder.cli import main
from builder.errors import ImageUnreadable
from builder.inspect import inspect_image
from builder.plan import make_plan
from builder.sources import sha256_of
from fakes import FakeEngine, example_plan

# The labels hello:latest had before build-image recorded flags, stage keys and patch sums.
OLDER_LABELS = {
    "io.build-image.otp.version": "27.3.4.1",
    "io.build-image.otp.sha256": "0834643ef1e17886d5e334a39527d8429bcf50613b86d59d4757466f32984b7e",
    "io.build-image.otp.source": "debian:trixie/erlang=1:27.3.4.1+dfsg-1+deb13u4",
    "io.build-image.otp.patches": "",
    "io.build-image.erts.version": "15.2.7",
    "io.build-image.elixir.version": "1.18.3",
    "io.build-image.openssl.version": "3.0.22-1~deb12u2",
    "org.opencontainers.image.title": "hello",
}


def test_an_older_image_says_what_it_does_not_record() -> None:
    engine = FakeEngine()
    engine.add_image("old:latest", OLDER_LABELS)
    found = inspect_image(engine, "old:latest")
    assert found.facts["otp"]["version"] == "27.3.4.1"
    assert {"hardening.cflags", "hardening.ldflags", "stages", "otp.patches.sha256", "sbom"} <= set(found.unknown)
    text = found.render_text()
    assert "hardening.cflags      unknown" in text and "assembled by an older build-image" in text


def test_the_new_labels_name_flags_stage_keys_and_patch_checksums(tmp_path: Path) -> None:
    patch = tmp_path / "0001-banner.patch"
    patch.write_text("--- a/x\n+++ b/x\n")
    plan = example_plan(tmp_path)
    config = dataclasses.replace(plan.config, otp=dataclasses.replace(plan.config.otp, patches=(patch,)))
    plan = make_plan(config, *plan.sources)
    labels = {**OLDER_LABELS, "io.build-image.otp.patches": patch.name, **records.build_labels(plan)}
    engine = FakeEngine()
    engine.add_image("new:latest", labels)

    found = inspect_image(engine, "new:latest").to_json()

    assert found["otp"]["patches"] == [{"name": patch.name, "sha256": sha256_of(patch)}]
    assert found["hardening"]["cflags"] == " ".join(config.hardening.cflags)
    assert found["stages"]["otp"] == plan.stage("otp").image
    assert set(found["stages"]) >= {"runtime", "otp", "elixir", "release", "launcher"}
    assert found["overrides"] == []
    assert not {"hardening.cflags", "stages", "otp.patches.sha256", "overrides"} & set(found["unknown"])


def test_an_image_build_image_did_not_make_is_refused() -> None:
    engine = FakeEngine()
    engine.add_image("debian:bookworm", {"maintainer": "someone"})
    with pytest.raises(ImageUnreadable, match="not assembled by build-image"):
        inspect_image(engine, "debian:bookworm")


@pytest.mark.docker
def test_inspect_the_example_image_with_no_config(example_image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no build-image.yaml anywhere near
    assert main(["inspect", example_image, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["unknown"] == []
    assert found["otp"]["version"] == "27.3.4.1" and found["erts"]["version"].startswith("15.")
    assert "-fstack-protector-strong" in found["hardening"]["cflags"]
    assert found["stages"]["otp"].startswith("build-image/otp:")
    assert found["sbom"]["components"]["debian"] > 0 and found["sbom"]["spec"] == "1.6"
    assert main(["inspect", example_image]) == 0
    assert "stages.otp" in capsys.readouterr().out
