"""SLSA v1 provenance of a pushed image, as an in-toto statement.

The statement is made after the push, because its subject is the image's
manifest digest.  Everything else comes from what the image itself records
(its labels and its SBOM, checked against the label's sha256) and from
``build-image.yaml``, so the provenance of an image can be written again
later, and is the same bytes for the same image and config.

Build type (``BUILD_TYPE``), documented in docs/supply-chain.md:

- ``externalParameters``: ``config`` (build-image.yaml: path and sha256),
  ``source`` (the app's git revision and repository, when known), ``tag``;
- ``internalParameters``: ``sourceDateEpoch``;
- ``resolvedDependencies``: the OTP and Elixir source tarballs, the OTP
  patches, the builder base, every Debian package of the run-time root
  filesystem and every Hex package, each with its digest where one exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from builder.config import Config
from builder.registry import Reference

STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:build-image:buildtype:image:v1"
BUILDER_ID = "urn:build-image:builder"
PROVENANCE_NAME = "provenance.intoto.json"
_LABEL = "io.build-image"
_OCI = "org.opencontainers.image"


def statement(*, subject_name: str, digest: str, tag: str, config: Config, labels: Mapping[str, str],
              sbom: bytes) -> bytes:
    """The in-toto statement (canonical JSON) naming ``digest`` (the local image ``tag``) as its subject."""
    algorithm, value = digest.split(":", 1)
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": _external(config, tag, labels),
            "internalParameters": {"sourceDateEpoch": config.source_date_epoch},
            "resolvedDependencies": sorted(_dependencies(config, labels, sbom), key=lambda d: str(d["name"])),
        },
        "runDetails": {
            "builder": {"id": BUILDER_ID, "version": {"build-image": installed_version("build-image")}},
            "metadata": {},
        },
    }
    document = {"_type": STATEMENT, "subject": [{"name": subject_name, "digest": {algorithm: value}}],
                "predicateType": PREDICATE, "predicate": predicate}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def subject_name(reference: Reference | None, image: str) -> str:
    """``registry/repository`` when pushed, else the local tag."""
    return f"{reference.registry}/{reference.repository}" if reference is not None else image


def _external(config: Config, tag: str, labels: Mapping[str, str]) -> dict[str, object]:
    """What the user chose: the config file, the app's source revision, the tag."""
    parameters: dict[str, object] = {
        "config": {"path": config.file.name, "sha256": _sha256_file(config.file)},
        "tag": tag,
    }
    source = {key: labels[f"{_OCI}.{label}"] for key, label in (("revision", "revision"), ("uri", "source"))
              if f"{_OCI}.{label}" in labels}
    if source:
        parameters["source"] = source
    return parameters


def _dependencies(config: Config, labels: Mapping[str, str], sbom: bytes) -> Iterator[dict[str, object]]:
    components = json.loads(sbom)["components"]
    for component in components:
        ref = component["bom-ref"]
        if ref.startswith(("source:", "hex:", "deb:")):
            yield _descriptor(component)
    for patch in config.otp.patches:
        yield {"name": f"otp-patch:{patch.name}", "digest": {"sha256": _sha256_file(patch)}}
    base = labels.get(f"{_LABEL}.builder-base", "")
    if "@sha256:" in base:
        yield {"name": "builder-base", "uri": base, "digest": {"sha256": base.split("@sha256:", 1)[1]}}
    elif base:
        # Bootstrapped with mmdebstrap: its packages come from the host's signed Debian indexes.
        yield {"name": "builder-base", "uri": f"build-image:bootstrap/{config.bases.debian_suite}",
               "annotations": {"image": base}}


def _descriptor(component: Mapping[str, Any]) -> dict[str, object]:
    """An SBOM component as a SLSA resource descriptor: its bom-ref, purl and sha256."""
    descriptor: dict[str, object] = {"name": component["bom-ref"], "uri": component.get("purl", "")}
    digests = {h["content"] for h in component.get("hashes", []) if h["alg"] == "SHA-256"}
    if digests:
        descriptor["digest"] = {"sha256": digests.pop()}
    return descriptor


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
