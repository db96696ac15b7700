"""Pushing the example image: one digest, whatever the push, served as computed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "hello" / "build-image.yaml"

pytestmark = [pytest.mark.docker, pytest.mark.tools("docker-registry")]


def build_image(*args: str) -> str:
    """Run the CLI; return its stdout (a failure shows its stderr)."""
    done = subprocess.run([sys.executable, "-m", "builder", *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def manifest(registry: str, repository: str, reference: str) -> tuple[str, bytes]:
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{reference}",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"], response.read()


@pytest.fixture(scope="module")
def pushed(registry: str, example_image: str) -> str:
    """The example image pushed once; returns ``REF@DIGEST`` as printed."""
    return build_image("push", f"{registry}/hello:latest", "-c", str(EXAMPLE_CONFIG)).strip()


def test_the_printed_digest_is_the_one_the_registry_serves(registry: str, pushed: str) -> None:
    reference, digest = pushed.split("@")
    assert reference == f"{registry}/hello"
    served, body = manifest(registry, "hello", "latest")
    assert served == digest == "sha256:" + hashlib.sha256(body).hexdigest()
    document = json.loads(body)
    assert document["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert document["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert {layer["mediaType"] for layer in document["layers"]} == {"application/vnd.oci.image.layer.v1.tar+gzip"}
    assert document["annotations"]["org.opencontainers.image.created"] == "2024-01-01T00:00:00Z"


def test_a_re_push_gives_the_same_digest(registry: str, pushed: str) -> None:
    assert build_image("push", f"{registry}/hello:again", "-c", str(EXAMPLE_CONFIG)).strip() == pushed


def test_the_oci_layout_holds_the_same_image(tmp_path: Path, pushed: str, example_image: str) -> None:
    out = build_image("push", "--oci", str(tmp_path / "oci"), "--image", example_image)
    assert out.split() == [str(tmp_path / "oci"), pushed.split("@")[1]]
    index = json.loads((tmp_path / "oci" / "index.json").read_text())
    (entry,) = index["manifests"]
    blob = tmp_path / "oci" / "blobs" / "sha256" / entry["digest"].split(":")[1]
    assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == entry["digest"]
    assert json.loads((tmp_path / "oci" / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}


def test_the_engine_pulls_it_back_as_the_same_image(registry: str, pushed: str, example_image: str) -> None:
    client = docker.from_env(timeout=120)
    image = client.images.pull(pushed)
    try:
        assert image.id == client.images.get(example_image).id
    finally:
        client.images.remove(pushed)
