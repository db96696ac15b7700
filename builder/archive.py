"""The ``docker save`` archive, written in one place.

The assembler hands its image to the engine in this format, and the tests
write their hand-made images with the same code: ``manifest.json``, the
image config (whose sha256 is the image ID) and one uncompressed tar per
layer, in the classic layout ``docker load`` reads.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from typing import IO


def write_save_archive(target: IO[bytes], tag: str, layers: Sequence[bytes], settings: Mapping[str, object],
                       *, created: str, history: Sequence[str]) -> str:
    """Write an image of ``layers`` (lowest first) to ``target``; return its ID.

    ``settings`` is the image's run configuration (``User``, ``Entrypoint``,
    ``Env``, ``Labels``, …); ``history`` has one ``created_by`` per layer.
    The same arguments always give the same bytes and the same ID.
    """
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    image_config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": dict(settings),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": step} for step in history],
    }, sort_keys=True, separators=(",", ":")).encode()
    image_id = hashlib.sha256(image_config).hexdigest()
    layer_names = [f"{diff_id.split(':')[1]}/layer.tar" for diff_id in diff_ids]
    manifest = json.dumps([{
        "Config": f"{image_id}.json",
        "RepoTags": [_repo_tag(tag)],
        "Layers": layer_names,
    }]).encode()
    with tarfile.open(fileobj=target, mode="w") as archive:
        _add(archive, f"{image_id}.json", image_config)
        for name, layer in zip(layer_names, layers, strict=True):
            _add(archive, name, layer)
        _add(archive, "manifest.json", manifest)
    return f"sha256:{image_id}"


def _repo_tag(tag: str) -> str:
    """``name`` and ``host:5000/name`` get ``:latest``; a tagged name stays as it is."""
    return tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def member_bytes(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The content of a regular file ``member`` (tarfile types it as optional for other kinds)."""
    data = archive.extractfile(member)
    assert data is not None, f"{member.name} is not a regular file"
    return data.read()
