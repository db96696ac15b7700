"""Deterministic compression, manifests and references, without an engine."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from builder import oci
from builder.errors import ImageUnreadable, UsageError
from builder.registry import Reference

pytestmark = pytest.mark.unit

LAYER = b"a tar layer, or close enough" * 1000


def config_for(*layers: bytes, labels: dict[str, str] | None = None) -> bytes:
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    return json.dumps({"config": {"Labels": labels or {}}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def test_layers_compress_to_the_same_bytes_with_a_fixed_header() -> None:
    first, second = oci.gzip_layer(LAYER), oci.gzip_layer(LAYER)
    assert first == second
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, mtime 0, OS unknown
    assert gzip.decompress(first) == LAYER


def test_the_manifest_names_oci_types_and_standard_annotations() -> None:
    labels = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "io.build-image.inputs": "x"}
    image = oci.from_layers(config_for(LAYER, labels=labels), [LAYER])
    document = json.loads(image.manifest.data)
    assert document["config"]["mediaType"] == oci.CONFIG
    assert document["layers"] == [image.layers[0].descriptor()]
    assert document["annotations"] == {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
    assert image.digest == oci.from_layers(config_for(LAYER, labels=labels), [LAYER]).digest


def test_layers_that_do_not_match_the_config_are_refused() -> None:
    with pytest.raises(ImageUnreadable, match="diff IDs"):
        oci.from_layers(config_for(LAYER), [LAYER + b"tampered"])


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5000/hello:latest", ("127.0.0.1:5000", "hello", "latest", None)),
    ("localhost/team/app", ("localhost", "team/app", None, None)),
    ("registry.example/a/b@sha256:" + "0" * 64, ("registry.example", "a/b", None, "sha256:" + "0" * 64)),
])
def test_references_name_their_registry(text: str, expected: tuple[object, ...]) -> None:
    reference = Reference.parse(text)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == expected
    assert str(reference) == text


@pytest.mark.parametrize("text", ["hello:latest", "team/app", "127.0.0.1:5000/Hello", ""])
def test_a_reference_without_a_registry_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="not a registry reference"):
        Reference.parse(text)


def test_only_loopback_registries_are_spoken_to_over_http() -> None:
    assert Reference.parse("127.0.0.1:5000/a").base_url == "http://127.0.0.1:5000/v2/a"
    assert Reference.parse("registry.example/a").base_url == "https://registry.example/v2/a"
