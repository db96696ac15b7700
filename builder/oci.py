"""The image as an OCI artifact: deterministic compressed layers and manifest.

``docker push`` compresses layers itself, with whatever gzip settings and
headers the engine has, so the digest it prints is not reproducible.  Here
the image is read back from the engine (``docker save`` returns the exact
layer tars and config the assembler wrote), each layer is compressed with a
fixed gzip header and level, and the OCI manifest is serialised with sorted
keys: the same image always gives the same manifest bytes, hence the same
digest, in a registry (:mod:`builder.registry`) or in an OCI image layout.
"""

from __future__ import annotations

import hashlib
import json
import struct
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from builder.archive import member_bytes
from builder.errors import ImageUnreadable

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX = "application/vnd.oci.image.index.v1+json"
# The labels that are also manifest annotations (the OCI spec's pre-defined keys).
ANNOTATED = tuple(f"org.opencontainers.image.{key}" for key in
                  ("created", "version", "revision", "source", "licenses", "title"))
# Fixed gzip: level 6 (zlib's default; level 9 took 2.5× as long for 0.5% less), no name,
# mtime 0, XFL 0 (neither fastest nor best), OS 255 ("unknown").
GZIP_LEVEL = 6
_GZIP_HEADER = b"\x1f\x8b\x08\x00" + b"\x00\x00\x00\x00" + b"\x00\xff"


@dataclass(frozen=True)
class Blob:
    """One content-addressed blob with its OCI descriptor fields."""

    media_type: str
    data: bytes
    # A blob a registry already holds, known by its descriptor alone (``data`` empty):
    # a stage cache reuses the compressed layers of its signed entries without their bytes.
    held: tuple[str, int] | None = None  # (digest, size)

    @classmethod
    def in_registry(cls, media_type: str, digest: str, size: int) -> Blob:
        return cls(media_type, b"", (digest, size))

    @property
    def digest(self) -> str:
        return self.held[0] if self.held else "sha256:" + hashlib.sha256(self.data).hexdigest()

    def descriptor(self) -> dict[str, object]:
        size = self.held[1] if self.held else len(self.data)
        return {"mediaType": self.media_type, "digest": self.digest, "size": size}


@dataclass(frozen=True)
class OciImage:
    """An image ready to push: its config, compressed layers and manifest."""

    config: Blob
    layers: tuple[Blob, ...]
    manifest: Blob

    @property
    def digest(self) -> str:
        """The manifest digest: what a registry serves and what a signature names."""
        return self.manifest.digest

    def blobs(self) -> tuple[Blob, ...]:
        return (*self.layers, self.config)

    def by_diff_id(self) -> dict[str, Blob]:
        """Each compressed layer by the diff ID (sha256 of the tar) its config names."""
        diff_ids: list[str] = json.loads(self.config.data)["rootfs"]["diff_ids"]
        return dict(zip(diff_ids, self.layers, strict=True))


def gzip_layer(layer: bytes) -> bytes:
    """``layer`` gzip-compressed with a fixed header and level: same tar, same bytes.

    The header is written here rather than by :mod:`gzip` so no file name,
    time or OS byte of this machine ends up in it.
    """
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS, 9)
    body = compressor.compress(layer) + compressor.flush()
    trailer = struct.pack("<II", zlib.crc32(layer) & 0xFFFFFFFF, len(layer) & 0xFFFFFFFF)
    return _GZIP_HEADER + body + trailer


def from_layers(config: bytes, layers: Sequence[bytes], compressed: Mapping[str, Blob] | None = None) -> OciImage:
    """The OCI image of an image config and its uncompressed layer tars (lowest first).

    ``compressed`` maps diff IDs to layers already compressed (by this
    function, so the same bytes): stages share their lower layers, and
    compressing the builder base once per stage was most of a cache push.
    """
    parsed = json.loads(config)
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    if parsed.get("rootfs", {}).get("diff_ids") != diff_ids:
        raise ImageUnreadable("the image's layers do not match the diff IDs in its config",
                              hint="the engine's copy is damaged: build the image again")
    config_blob = Blob(CONFIG, config)
    known = compressed or {}
    layer_blobs = tuple(known.get(diff_id) or Blob(LAYER, gzip_layer(layer))
                        for diff_id, layer in zip(diff_ids, layers, strict=True))
    labels: Mapping[str, str] = (parsed.get("config") or {}).get("Labels") or {}
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [blob.descriptor() for blob in layer_blobs],
        "annotations": {key: labels[key] for key in ANNOTATED if key in labels},
    }
    return OciImage(config_blob, layer_blobs, Blob(MANIFEST, _canonical(manifest)))


def from_save_archive(stream: IO[bytes], compressed: Mapping[str, Blob] | None = None) -> OciImage:
    """The OCI image of a one-image ``docker save`` stream (the engine's exact bytes); see :func:`from_layers`."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                if member.isreg():
                    files[member.name] = member_bytes(archive, member)
        (entry,) = json.loads(files["manifest.json"])
        return from_layers(files[entry["Config"]], [files[name] for name in entry["Layers"]], compressed)
    except (tarfile.TarError, KeyError, ValueError, TypeError) as exc:
        raise ImageUnreadable(f"the engine's export of the image is not a docker-save archive: {exc!r}",
                              hint="is the name right? `docker image inspect` it") from exc


def write_layout(image: OciImage, directory: Path, ref_name: str) -> Path:
    """Write ``image`` as an OCI image layout in ``directory`` (for air-gapped transfer).

    ``ref_name`` (e.g. the tag) is recorded as the manifest's
    ``org.opencontainers.image.ref.name``.  Blobs already present are kept.
    """
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for blob in (*image.blobs(), image.manifest):
        if blob.held:
            raise ValueError(f"{blob.digest} is known only by its descriptor: a layout needs its bytes")
        path = blobs / blob.digest.split(":", 1)[1]
        if not path.is_file():
            path.write_bytes(blob.data)
    (directory / "oci-layout").write_bytes(_canonical({"imageLayoutVersion": "1.0.0"}))
    manifest = {**image.manifest.descriptor(), "annotations": {"org.opencontainers.image.ref.name": ref_name}}
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [manifest]}
    (directory / "index.json").write_bytes(_canonical(index))
    return directory


def _canonical(document: object) -> bytes:
    """JSON with sorted keys and no spaces: one document, one byte string."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
