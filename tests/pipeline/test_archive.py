"""builder.archive: the one docker-save writer, read back the way the verifier reads images."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from builder.archive import write_save_archive
from builder.verify.imagefs import read_image


def layer(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write(tag: str = "demo:1", layers: tuple[bytes, ...] = (layer("a", b"1"), layer("a", b"2"))) -> tuple[str, bytes]:
    out = io.BytesIO()
    image_id = write_save_archive(out, tag, list(layers), {"User": "65532:65532", "Labels": {"k": "v"}},
                                  created="2024-01-01T00:00:00Z", history=["base", "top"])
    return image_id, out.getvalue()


def member(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        data = tar.extractfile(name)
        assert data is not None
        return data.read()


def test_the_same_arguments_give_the_same_bytes_and_the_id_is_the_config_digest() -> None:
    (first_id, first), (second_id, second) = write(), write()
    assert (first_id, first) == (second_id, second)
    [manifest] = json.loads(member(first, "manifest.json"))
    config = member(first, manifest["Config"])
    assert first_id == "sha256:" + hashlib.sha256(config).hexdigest()
    assert json.loads(config)["config"] == {"User": "65532:65532", "Labels": {"k": "v"}}
    assert [h["created_by"] for h in json.loads(config)["history"]] == ["base", "top"]


@pytest.mark.parametrize(("tag", "repo_tag"), [
    ("demo", "demo:latest"), ("demo:1", "demo:1"), ("registry.test:5000/demo", "registry.test:5000/demo:latest"),
])
def test_the_tag_is_written_as_docker_load_expects(tag: str, repo_tag: str) -> None:
    _, archive = write(tag)
    assert json.loads(member(archive, "manifest.json"))[0]["RepoTags"] == [repo_tag]


def test_layers_apply_in_order_when_read_back() -> None:
    _, archive = write()
    contents = read_image(io.BytesIO(archive), "demo:1")
    assert contents.layer_count == 2 and contents.files["/a"].layer == 1
