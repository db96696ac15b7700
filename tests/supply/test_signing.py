"""Signed and attested images: the real cosign and build-image agree, and both refuse forgeries.

Every scenario has a repository of its own in the session's registry, so a
tampered tag in one never touches another.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from builder import oci
from builder.engine_protocol import as_file
from builder.registry import Reference, Registry, push
from cosign_keys import ENV

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "hello" / "build-image.yaml"

pytestmark = [pytest.mark.docker, pytest.mark.tools("docker-registry", "cosign")]


def run(*argv: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600, cwd=cwd, env=ENV,
                          check=False)


def build_image(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "builder", *args)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def push_and_sign(registry: str, repository: str, keys: dict[str, Path]) -> str:
    """Push the example to ``repository`` and sign it; return ``registry/repository@digest``."""
    pushed = ok(build_image("push", f"{registry}/{repository}:latest", "-c", str(EXAMPLE_CONFIG)))
    signed = ok(build_image("sign", f"{registry}/{repository}:latest", "--key", str(keys["signer"] / "cosign.key"),
                            "-c", str(EXAMPLE_CONFIG)))
    assert signed == pushed
    return signed


def cosign_verifies(reference: str, key: Path) -> bool:
    """cosign's own verdict on the signature and both attestations."""
    checks = [("verify",), ("verify-attestation", "--type", "cyclonedx"),
              ("verify-attestation", "--type", "slsaprovenance1")]
    return all(run("cosign", *check, "--key", key, "--insecure-ignore-tlog=true", reference).returncode == 0
               for check in checks)


def build_image_verifies(reference: str, key: Path) -> subprocess.CompletedProcess[str]:
    return build_image("verify", "--signed-by", str(key), reference)


def tampered(example_image: str, engine) -> oci.OciImage:  # type: ignore[no-untyped-def]
    """The example with one label changed: the same layers, another digest."""
    original = oci.from_save_archive(as_file(engine.save_image(example_image)))
    config = json.loads(original.config.data)
    config["config"]["Labels"]["org.opencontainers.image.version"] = "6.6.6"
    return oci.from_layers(json.dumps(config).encode(), [gzip.decompress(layer.data) for layer in original.layers])


def test_a_signed_image_verifies_with_cosign_and_build_image(registry: str, keys: dict[str, Path],
                                                             example_image: str) -> None:
    signed = push_and_sign(registry, "signed/hello", keys)
    public = keys["signer"] / "cosign.pub"
    assert cosign_verifies(f"{registry}/signed/hello:latest", public)
    verdict = ok(build_image_verifies(f"{registry}/signed/hello:latest", public))
    assert verdict.startswith(signed) and "https://cyclonedx.org/bom" in verdict and "slsa.dev/provenance/v1" in verdict


def test_a_wrong_key_is_refused_by_both(registry: str, keys: dict[str, Path], example_image: str) -> None:
    push_and_sign(registry, "wrongkey/hello", keys)
    stranger = keys["stranger"] / "cosign.pub"
    assert not cosign_verifies(f"{registry}/wrongkey/hello:latest", stranger)
    refused = build_image_verifies(f"{registry}/wrongkey/hello:latest", stranger)
    assert refused.returncode == 1 and "no signature of this digest verifies" in refused.stderr


def test_a_tampered_image_is_refused_by_both(registry: str, keys: dict[str, Path], example_image: str,
                                             engine) -> None:  # type: ignore[no-untyped-def]
    push_and_sign(registry, "tampered/hello", keys)
    push(tampered(example_image, engine), Reference.parse(f"{registry}/tampered/hello:latest"))
    public = keys["signer"] / "cosign.pub"
    assert not cosign_verifies(f"{registry}/tampered/hello:latest", public)
    refused = build_image_verifies(f"{registry}/tampered/hello:latest", public)
    assert refused.returncode == 1 and "no signature" in refused.stderr


def test_an_attestation_about_another_digest_is_refused_by_both(  # type: ignore[no-untyped-def]
        registry: str, keys: dict[str, Path], example_image: str, engine, tmp_path: Path) -> None:
    signed = Reference.parse(push_and_sign(registry, "swapped/hello", keys))
    other = tampered(example_image, engine)
    other_ref = Reference.parse(f"{registry}/swapped/hello:other").with_digest(push(
        other, Reference.parse(f"{registry}/swapped/hello:other")))
    outputs = REPO / "examples" / "hello" / ".build-image"
    provenance = tmp_path / "provenance.json"
    provenance.write_text(json.dumps(json.loads((outputs / "provenance.intoto.json").read_text())["predicate"]))
    for kind, predicate in (("cyclonedx", outputs / "sbom.cdx.json"), ("slsaprovenance1", provenance)):
        ok(run("cosign", "attest", "--key", keys["signer"] / "cosign.key", "--tlog-upload=false", "--yes",
               "--type", kind, "--predicate", predicate, str(other_ref)))
    # The other digest's attestations, signed by the right key, put where the signed image's belong.
    repository = Registry(signed)
    attestations = repository.find_manifest(f"{other.digest.replace(':', '-')}.att")
    assert attestations is not None and signed.digest is not None
    request = urllib.request.Request(
        f"{signed.base_url}/manifests/{signed.digest.replace(':', '-')}.att", data=attestations, method="PUT",
        headers={"Content-Type": json.loads(attestations)["mediaType"]})
    urllib.request.urlopen(request, timeout=10).close()
    public = keys["signer"] / "cosign.pub"
    assert run("cosign", "verify", "--key", public, "--insecure-ignore-tlog=true", str(signed)).returncode == 0
    assert not cosign_verifies(str(signed), public)
    refused = build_image_verifies(str(signed), public)
    assert refused.returncode == 1 and "not this digest" in refused.stderr
