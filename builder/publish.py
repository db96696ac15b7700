"""From the engine to a registry or an OCI layout, with the same digest either way.

The image is exported from the engine (the exact bytes the assembler
loaded), turned into a deterministic OCI image by :mod:`builder.oci` and
written where the user asked.  Nothing here depends on the engine having
pushed anything: the engine never sees the registry.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path

from builder import oci
from builder.archive import member_bytes
from builder.config import Config
from builder.engine_protocol import Engine, as_file
from builder.errors import ImageUnreadable
from builder.provenance import PROVENANCE_NAME, statement, subject_name
from builder.registry import Reference, push
from builder.sbom import SBOM_NAME, SBOM_PATH

#: Beside build-image.yaml: what a build writes for the user (never part of a build context).
OUTPUT_DIR = ".build-image"
SBOM_LABEL = "io.build-image.sbom.sha256"


@dataclass(frozen=True)
class Published:
    digest: str  # the manifest digest, the same in the registry and in the layout
    pushed: Reference | None  # registry/repository@digest, when pushed
    layout: Path | None
    provenance: Path | None  # the SLSA statement, beside the build output


def publish(engine: Engine, image: str, *, to: Reference | None, oci_dir: Path | None,
            config: Config | None) -> Published:
    """Push ``image`` (a local tag) to ``to`` and/or write it as an OCI layout in ``oci_dir``.

    With the ``config`` that built the image, its SLSA provenance (subject:
    the digest just computed) is written beside the build output.
    """
    artifact = oci.from_save_archive(as_file(engine.save_image(image)))
    pushed = to.with_digest(push(artifact, to)) if to is not None else None
    layout = oci.write_layout(artifact, oci_dir, to.tag or image if to else image) if oci_dir else None
    provenance = None
    if config is not None:
        provenance = output_dir(config) / PROVENANCE_NAME
        provenance.parent.mkdir(parents=True, exist_ok=True)
        provenance.write_bytes(provenance_of(engine, image, artifact.digest, subject_name(to, image), config))
    return Published(artifact.digest, pushed, layout, provenance)


def provenance_of(engine: Engine, image: str, digest: str, name: str, config: Config) -> bytes:
    """The SLSA provenance of ``image`` as pushed under ``name`` with ``digest``."""
    facts = engine.image_facts(image)
    labels = facts.labels if facts is not None else {}
    return statement(subject_name=name, digest=digest, tag=image, config=config, labels=labels,
                     sbom=read_sbom(engine, image))


def output_dir(config: Config) -> Path:
    return config.file.resolve().parent / OUTPUT_DIR


def read_sbom(engine: Engine, image: str) -> bytes:
    """The SBOM inside ``image``, checked against the sha256 its label records."""
    facts = engine.image_facts(image)
    expected = facts.labels.get(SBOM_LABEL) if facts is not None else None
    if expected is None:
        raise ImageUnreadable(f"{image} has no {SBOM_LABEL} label",
                              hint="it was not assembled by this build-image: build it again")
    with engine.archive_from_image(image, SBOM_PATH) as stream, tarfile.open(fileobj=stream, mode="r|") as archive:
        sbom = next((member_bytes(archive, m) for m in archive if m.isreg()), b"")
    if hashlib.sha256(sbom).hexdigest() != expected:
        raise ImageUnreadable(f"{image}: {SBOM_PATH} does not match its {SBOM_LABEL} label",
                              hint="the image was altered after assembly: build it again")
    return sbom


def write_sbom(engine: Engine, image: str, directory: Path) -> Path:
    """Copy the image's SBOM to ``directory/sbom.cdx.json`` (beside the build output)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SBOM_NAME
    target.write_bytes(read_sbom(engine, image))
    return target
