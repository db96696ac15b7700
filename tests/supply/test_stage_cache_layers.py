"""The stage cache moves each layer once: pushed compressed once, pulled only when the engine lacks it.

A real registry and real cosign signatures; the engines are in memory.  The
receiving engine behaves as ``docker load`` does: a layer whose chain of diff
IDs it holds is not read from the archive, any other must be there and match.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from builder import oci
from builder.engine_protocol import ImageFacts
from builder.registry import Reference
from builder.stage_cache import CachedEngine, _write_save_archive
from cosign_keys import COSIGN_PASSWORD
from fakes import FakeEngine

pytestmark = pytest.mark.tools("docker-registry", "cosign")


def layer(name: str) -> bytes:
    """A one-file layer tar, large enough that compressing it shows."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = (name.encode() * 50_000)[:200_000]
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def diff_id(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


BASE, OTP, RELEASE, LAUNCHER = (layer(name) for name in ("base", "otp", "release", "launcher"))
STAGES = {  # a builder base and three stages on it, as the plan chains them
    "build-image/builder-base:k0": [BASE],
    "build-image/otp:k1": [BASE, OTP],
    "build-image/release-hello:k2": [BASE, OTP, RELEASE],
    "build-image/launcher-hello:k3": [BASE, LAUNCHER],
}


class LoadingEngine(FakeEngine):
    """A fake engine that loads docker-save archives layer by layer, as dockerd does."""

    def __init__(self) -> None:
        super().__init__()
        self.chains: set[tuple[str, ...]] = set()
        self.read: list[str] = []  # diff IDs read from loaded archives, in order

    def load_image(self, archive: Path) -> None:
        with tarfile.open(archive) as tar:
            [entry] = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
            chain: tuple[str, ...] = ()
            for name, expected in zip(entry["Layers"], config["rootfs"]["diff_ids"], strict=True):
                chain = (*chain, expected)
                if chain not in self.chains:
                    member = tar.extractfile(name)
                    assert member is not None, f"{name} is missing and the engine lacks its chain"
                    assert diff_id(member.read()) == expected
                    self.read.append(expected)
                    self.chains.add(chain)
        for tag in entry["RepoTags"]:
            self.images[tag] = ImageFacts(id="sha256:" + entry["Config"].removesuffix(".json"), size=0, user="",
                                          entrypoint=(), labels={}, layers=chain)


def stage_config(layers: list[bytes]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": [diff_id(data) for data in layers]}}).encode()


def save_into(engine: FakeEngine, tag: str, layers: list[bytes], work: Path) -> None:
    """Put ``tag`` with ``layers`` into ``engine`` as a docker-save archive (as if built there)."""
    paths = {}
    for index, data in enumerate(layers):
        paths[diff_id(data)] = work / f"{tag.replace('/', '_')}-{index}.tar"
        paths[diff_id(data)].write_bytes(data)
    _write_save_archive(work / "save.tar", tag, stage_config(layers), [diff_id(d) for d in layers], paths)
    engine.load_image(work / "save.tar")


@pytest.fixture
def filled(registry: str, keys: dict[str, Path], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[bytes]]:
    """A cache filled from an engine holding every stage; returns (cache, the layers gzip compressed)."""
    monkeypatch.setenv("COSIGN_PASSWORD", COSIGN_PASSWORD)
    source = FakeEngine()
    for tag, layers in STAGES.items():
        save_into(source, tag, layers, tmp_path)
    compressed: list[bytes] = []
    gzip_layer = oci.gzip_layer
    monkeypatch.setattr(oci, "gzip_layer", lambda data: compressed.append(data) or gzip_layer(data))
    cache = f"{registry}/layers{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]}"  # one per test
    engine = CachedEngine(source, Reference.parse(cache), keys["signer"] / "cosign.pub",
                          str(keys["signer"] / "cosign.key"), lambda line: None)
    for tag in STAGES:
        assert engine.obtainable(tag)
    return cache, compressed


def test_each_distinct_layer_is_compressed_once_when_the_cache_is_filled(filled: tuple[str, list[bytes]]) -> None:
    _, compressed = filled
    assert sorted(compressed) == sorted([BASE, OTP, RELEASE, LAUNCHER])


def test_a_pull_fetches_only_the_layers_the_engine_lacks(filled: tuple[str, list[bytes]],
                                                         keys: dict[str, Path]) -> None:
    cache, _ = filled
    said: list[str] = []
    target = LoadingEngine()
    engine = CachedEngine(target, Reference.parse(cache), keys["signer"] / "cosign.pub", None, said.append)

    for tag in ("build-image/release-hello:k2", "build-image/otp:k1", "build-image/launcher-hello:k3"):
        facts = engine.image_facts(tag)
        assert facts is not None and list(facts.layers) == [diff_id(data) for data in STAGES[tag]]

    assert target.read == [diff_id(data) for data in (BASE, OTP, RELEASE, LAUNCHER)]  # each layer read once
    assert "3 of 3 layers fetched" in said[0] and "0 of 2 layers fetched" in said[1]
    assert "1 of 2 layers fetched" in said[2]


def test_an_entry_signed_by_another_key_is_not_obtainable(filled: tuple[str, list[bytes]],
                                                          keys: dict[str, Path]) -> None:
    cache, _ = filled
    said: list[str] = []
    engine = CachedEngine(LoadingEngine(), Reference.parse(cache), keys["stranger"] / "cosign.pub", None, said.append)
    assert not engine.obtainable("build-image/otp:k1")
    assert engine.image_facts("build-image/otp:k1") is None
    assert len(said) == 1 and "refused" in said[0]  # said once, however often asked


def test_a_later_run_reuses_the_compressed_layers_of_verified_entries(
        filled: tuple[str, list[bytes]], keys: dict[str, Path], tmp_path: Path) -> None:
    """An app change: the next run pushes a new release stage, compressing only its own layer."""
    cache, compressed = filled
    compressed.clear()
    source = FakeEngine()
    changed = layer("release, changed")
    for tag, layers in {**STAGES, "build-image/release-hello:k5": [BASE, OTP, changed]}.items():
        save_into(source, tag, layers, tmp_path)
    engine = CachedEngine(source, Reference.parse(cache), keys["signer"] / "cosign.pub",
                          str(keys["signer"] / "cosign.key"), lambda line: None)
    for tag in (*STAGES, "build-image/release-hello:k5"):
        assert engine.obtainable(tag)
    assert compressed == [changed]
    said: list[str] = []
    reader = CachedEngine(LoadingEngine(), Reference.parse(cache), keys["signer"] / "cosign.pub", None, said.append)
    assert reader.image_facts("build-image/release-hello:k5") is not None  # the entry is whole, and verifies
