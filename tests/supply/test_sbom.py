"""The SBOM: valid CycloneDX 1.6, complete, byte-identical for identical inputs."""

from __future__ import annotations

import hashlib
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from builder.sbom import SBOM_PATH, deb_licenses, make_sbom


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


DEP5 = b"""\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ca-certificates

Files: *
Copyright: 2003 Fumitoshi UKAI
License: GPL-2+
 This program is free software; you can redistribute it ...

Files: mozilla/certdata.txt
Copyright: Mozilla Foundation
License: MPL-2.0

Files: sbin/*
Copyright: 2003 Fumitoshi UKAI
License: GPL-2+

License: Artistic
 A stand-alone license text: no file is said to be under it here.
"""
FREE_FORM = b"This is the Debian prepackaged version of the GNU C Library.\n\nIt is LGPL-2.1+ mostly.\n"


@pytest.mark.unit
def test_a_dep5_copyright_file_gives_the_licenses_of_its_files_paragraphs() -> None:
    assert deb_licenses(DEP5) == ["GPL-2+", "MPL-2.0"]  # in order, once each; the stand-alone text is not one
    header_licensed = DEP5.replace(b"Upstream-Name: ca-certificates\n", b"License: MIT\n")
    assert deb_licenses(header_licensed) == ["MIT", "GPL-2+", "MPL-2.0"]


@pytest.mark.unit
@pytest.mark.parametrize("copyright_file", [None, FREE_FORM, b"", b"Format: https://x/\nFiles *\n\x00\n"],
                         ids=["no file", "free-form", "empty", "broken"])
def test_without_a_machine_readable_copyright_file_no_license_is_claimed(copyright_file: bytes | None) -> None:
    assert deb_licenses(copyright_file) == []


@pytest.mark.unit
def test_debian_packages_carry_the_licenses_their_copyright_files_declare(inputs: dict[str, object]) -> None:
    runtime_files = dict(inputs["runtime_files"])  # type: ignore[call-overload]
    runtime_files["usr/share/doc/tzdata/copyright"] = DEP5
    runtime_files["usr/share/doc/libc6/copyright"] = FREE_FORM
    inputs["runtime_files"] = runtime_files
    document = make_sbom(**inputs)  # type: ignore[arg-type]
    validate(document)
    components = by_ref(document)
    assert components["deb:tzdata@2026f-0+deb12u1?arch=all"]["licenses"] == [  # the library's order
        {"license": {"id": "MPL-2.0", "acknowledgement": "declared"}},  # an SPDX id as it is
        {"license": {"name": "GPL-2+", "acknowledgement": "declared"}},  # Debian's name, not translated
    ]
    assert "licenses" not in components["deb:libc6@2.36-9+deb12u14?arch=amd64"]


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
    licenses = {c["name"]: {entry["license"].get("id") or entry["license"]["name"] for entry in c.get("licenses", [])}
                for c in components.values() if c["bom-ref"].startswith("deb:")}
    assert licenses["ca-certificates"] == {"GPL-2+", "MPL-2.0"} and licenses["tzdata"] == {"public-domain"}
    assert licenses["libc6"] == set()  # its copyright file is free-form: nothing is claimed
    assert SBOM_PATH == "/app/sbom.cdx.json"
    written = write_sbom(engine, example_image, output_dir(example_config))
    assert written.read_bytes() == sbom
