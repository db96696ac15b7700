"""From the engine to a registry or an OCI layout, with the same digest either way.

The image is exported from the engine (the exact bytes the assembler
loaded), turned into a deterministic OCI image by :mod:`builder.oci` and
written where the user asked.  Nothing here depends on the engine having
pushed anything: the engine never sees the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from builder import oci
from builder.engine_protocol import Engine, as_file
from builder.registry import Reference, push


@dataclass(frozen=True)
class Published:
    digest: str  # the manifest digest, the same in the registry and in the layout
    pushed: Reference | None  # registry/repository@digest, when pushed
    layout: Path | None


def publish(engine: Engine, image: str, *, to: Reference | None, oci_dir: Path | None) -> Published:
    """Push ``image`` (a local tag) to ``to`` and/or write it as an OCI layout in ``oci_dir``."""
    artifact = oci.from_save_archive(as_file(engine.save_image(image)))
    pushed = to.with_digest(push(artifact, to)) if to is not None else None
    layout = oci.write_layout(artifact, oci_dir, to.tag or image if to else image) if oci_dir else None
    return Published(artifact.digest, pushed, layout)
