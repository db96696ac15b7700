"""The SBOM: valid CycloneDX 1.6, complete, byte-identical for identical inputs."""

from __future__ import annotations

import hashlib
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from builder.sbom import SBOM_PATH, make_sbom


def validate(document: bytes) -> None:
    """Offline: the JSON schema ships with cyclonedx-python-lib."""
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document.decode())
    assert errors is None, errors


def by_ref(document: bytes) -> dict[str, dict[str, object]]:
    return {c["bom-ref"]: c for c in json.loads(document)["components"]}


@pytest.mark.unit
def test_the_sbom_is_valid_cyclonedx_1_6_and_byte_identical(inputs: dict[str, object]) -> None:
    first, second = make_sbom(**inputs), make_sbom(**inputs)  # type: ignore[arg-type]
    assert first == second
    validate(first)
    document = json.loads(first)
    assert document["specVersion"] == "1.6"
    assert document["metadata"]["timestamp"].startswith("2024-01-01T00:00:00")
    assert document["serialNumber"].startswith("urn:uuid:")


@pytest.mark.unit
def test_the_sbom_names_every_part_of_the_image(inputs: dict[str, object]) -> None:
    components = by_ref(make_sbom(**inputs))  # type: ignore[arg-type]
    otp = components["source:otp"]
    assert otp["purl"] == "pkg:github/erlang/otp@OTP-27.3.4.1"
    assert otp["hashes"] == [{"alg": "SHA-256", "content": "a" * 64}]
    assert "+b" in otp["pedigree"]["patches"][0]["diff"]["text"]["content"]
    assert components["source:elixir"]["hashes"][0]["content"] == "b" * 64
    assert components["app:kernel@10.2.7.1"]["purl"] == "pkg:otp/kernel@10.2.7.1"
    assert components["app:erts@15.2.7"]["version"] == "15.2.7"
    assert components["app:hello@0.1.0"]["licenses"] == [{"expression": "MIT"}]
    jason = components["hex:jason@1.4.4"]
    assert jason["purl"] == "pkg:hex/jason@1.4.4"
    assert jason["hashes"][0]["content"] == "c5eb0cab91f094599f94d55bc63409236a8ec69a21a67814529e8d5f6cc90b3b"
    assert "app:jason@1.4.4" not in components  # one component per package
    libc = components["deb:libc6@2.36-9+deb12u14?arch=amd64"]
    assert libc["purl"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=bookworm&upstream=glibc"
    assert "deb:tzdata@2026f-0+deb12u1?arch=all" in components
    openssl = components["static:openssl"]
    assert openssl["version"] == "3.0.22" and openssl["cpe"].startswith("cpe:2.3:a:openssl:openssl:3.0.22:")
    launcher = {p["name"]: p["value"] for p in components["launcher"]["properties"]}
    assert launcher["build-image:cflags"].startswith("-O2") and launcher["build-image:verbs"] == "check,fail"
    assert components["launcher"]["hashes"][0]["content"] == hashlib.sha256(b"\x7fELF launcher").hexdigest()


@pytest.mark.unit
def test_a_changed_input_changes_the_serial_number(inputs: dict[str, object]) -> None:
    before = json.loads(make_sbom(**inputs))["serialNumber"]  # type: ignore[arg-type]
    inputs["app_version"] = "0.1.1"
    assert json.loads(make_sbom(**inputs))["serialNumber"] != before  # type: ignore[arg-type]


@pytest.mark.docker
def test_the_example_image_carries_its_sbom(engine, example_image: str, example_config) -> None:
    from builder.publish import output_dir, read_sbom, write_sbom

    sbom = read_sbom(engine, example_image)  # checked against the label
    validate(sbom)
    assert engine.image_facts(example_image).labels["io.build-image.sbom.sha256"] == hashlib.sha256(sbom).hexdigest()
    components = by_ref(sbom)
    debs = {c["name"] for c in components.values() if c["bom-ref"].startswith("deb:")}
    assert {"libc6", "libgcc-s1", "libstdc++6", "tzdata", "ca-certificates", "base-files", "netbase"} <= debs
    assert {"app:hello@0.1.0", "app:crypto@5.5.3", "app:elixir@1.18.3", "static:openssl"} <= set(components)
    assert SBOM_PATH == "/app/sbom.cdx.json"
    written = write_sbom(engine, example_image, output_dir(example_config))
    assert written.read_bytes() == sbom
