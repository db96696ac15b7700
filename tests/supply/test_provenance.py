"""SLSA v1 provenance: an in-toto statement about the pushed digest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from builder.provenance import BUILD_TYPE, PREDICATE, STATEMENT, statement
from builder.sbom import make_sbom

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "hello" / "build-image.yaml"
DIGEST = "sha256:" + "d" * 64


@pytest.mark.unit
def test_the_statement_names_the_digest_and_every_input(inputs: dict[str, object]) -> None:
    labels = {"org.opencontainers.image.revision": "0" * 40,
              "io.build-image.builder-base": "build-image/builder-base:k"}
    sbom = make_sbom(**inputs)  # type: ignore[arg-type]
    arguments = {"subject_name": "127.0.0.1:5000/hello", "digest": DIGEST, "tag": "hello:latest",
                 "config": inputs["config"], "labels": labels, "sbom": sbom}
    document = statement(**arguments)  # type: ignore[arg-type]
    assert document == statement(**arguments)  # type: ignore[arg-type]
    parsed = json.loads(document)
    assert parsed["_type"] == STATEMENT and parsed["predicateType"] == PREDICATE
    assert parsed["subject"] == [{"name": "127.0.0.1:5000/hello", "digest": {"sha256": "d" * 64}}]
    definition = parsed["predicate"]["buildDefinition"]
    assert definition["buildType"] == BUILD_TYPE
    assert definition["externalParameters"]["source"] == {"revision": "0" * 40}
    assert len(definition["externalParameters"]["config"]["sha256"]) == 64
    dependencies = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert dependencies["source:otp"]["digest"] == {"sha256": "a" * 64}
    assert dependencies["source:elixir"]["digest"] == {"sha256": "b" * 64}
    assert dependencies["hex:jason@1.4.4"]["uri"] == "pkg:hex/jason@1.4.4"
    assert dependencies["deb:libc6@2.36-9+deb12u14?arch=amd64"]["digest"] == {"sha256": "c" * 64}
    assert "otp-patch:fix.patch" in dependencies and "builder-base" in dependencies
    assert parsed["predicate"]["runDetails"]["builder"]["version"]["build-image"]


@pytest.mark.docker
@pytest.mark.tools("docker-registry")
def test_a_push_writes_the_provenance_of_the_pushed_digest(registry: str, example_image: str) -> None:
    done = subprocess.run([sys.executable, "-m", "builder", "push", f"{registry}/hello:provenance",
                           "-c", str(EXAMPLE_CONFIG)], capture_output=True, text=True, timeout=600, cwd=REPO,
                          check=False)
    assert done.returncode == 0, done.stderr
    digest = done.stdout.strip().split("@")[1]
    written = Path(done.stderr.split("provenance: ")[1].split()[0])
    subject = json.loads(written.read_text())["subject"]
    assert subject == [{"name": f"{registry}/hello", "digest": {"sha256": digest.split(":")[1]}}]
    definition = json.loads(written.read_text())["predicate"]["buildDefinition"]
    deps = {d["name"]: d for d in definition["resolvedDependencies"]}
    assert all("digest" in d for name, d in deps.items() if name.startswith("deb:"))
