"""A stage cache in a registry, shared by every engine that can reach it.

Stage images are tagged by the key of their inputs (``build-image/otp:<key>``),
so a stage built on one machine is exactly the stage another machine would
build.  :class:`CachedEngine` wraps an engine: a stage image the engine lacks
is pulled from the cache by its key, and a stage image the cache lacks is
pushed to it (with a signing key).  A cache entry is used only when its
cosign signature verifies with the cache's public key *and* its signed
payload names that very stage tag; anything else is reported and the stage
is built instead.  A label would be no evidence: whoever can push to the
cache could forge it.

Tag scheme: ``REGISTRY/REPO:<stage repository>-<key>``, e.g.
``127.0.0.1:5000/cache:otp-fa2b32bcbc34db8f`` for ``build-image/otp:fa2b32bcbc34db8f``.
Signed payload: cosign's simple signing payload, whose
``critical.image.docker-manifest-digest`` fixes the config and every layer
digest, with ``optional.io.build-image.stage`` = the stage tag (and so its key).

Speed: stages share their lower layers (every one starts from the builder
base), so a pull fetches only the layers the engine does not hold yet (the
longest chain of diff IDs it already has is left out of the ``docker load``
archive, which the engine accepts), several at a time, decompressed as they
stream in; and a push compresses only layers that neither this run nor a
verified entry of the cache has compressed already.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from builder import oci
from builder.engine_protocol import BuildEvent, Engine, ImageFacts, as_file
from builder.errors import BuildFailed, BuildImageError, ImageUnreadable, RegistryError
from builder.plan import TAG_PREFIX
from builder.registry import Reference, Registry, push
from builder.signing import sign_with, verify_signature

STAGE_ANNOTATION = "io.build-image.stage"
FETCHERS = 4  # layers downloaded and decompressed at once (zlib and hashlib release the GIL)
CHUNK = 1 << 20


@dataclass(frozen=True)
class CacheSettings:
    """``--cache REGISTRY/REPO``, the public key entries must verify with, and the key to sign new ones."""

    cache: Reference
    public_key: Path
    signing_key: str | None  # a cosign key file or env://VAR; None: a read-only cache

    def wrap(self, engine: Engine, say: Callable[[str], None]) -> CachedEngine:
        return CachedEngine(engine, self.cache, self.public_key, self.signing_key, say)


class CachedEngine:
    """An :class:`~builder.engine_protocol.Engine` backed by a registry stage cache."""

    def __init__(self, engine: Engine, cache: Reference, public_key: Path, signing_key: str | None,
                 say: Callable[[str], None]) -> None:
        self._engine = engine
        self._cache = cache
        self._public_key = public_key
        self._signing_key = signing_key  # None: a read-only cache
        self._say = say
        self._entries: dict[str, Reference | None] = {}  # stage image -> its verified entry (None: no usable one)
        self._in_cache: set[str] = set()  # stage images the cache is known to hold
        self._chains: set[tuple[str, ...]] = set()  # diff-ID chains the engine holds (images seen or loaded)
        self._compressed: dict[str, oci.Blob] = {}  # diff ID -> its layer compressed (and pushed) this run

    def entry(self, stage_image: str) -> Reference:
        """Where ``build-image/<repository>:<key>`` lives in the cache."""
        repository, key = stage_image.removeprefix(f"{TAG_PREFIX}/").rsplit(":", 1)
        return Reference(self._cache.registry, self._cache.repository, f"{repository.replace('/', '-')}-{key}")

    # -- what changes ----------------------------------------------------------
    def image_facts(self, ref: str) -> ImageFacts | None:
        """The engine's image, pulled from the cache first when it lacks a stage the cache has."""
        facts = self._local(ref)
        if facts is None and ref.startswith(f"{TAG_PREFIX}/") and self._pull(ref):
            facts = self._local(ref)
        return facts

    def has_image(self, ref: str) -> bool:
        return self.image_facts(ref) is not None

    def obtainable(self, ref: str) -> bool:
        """In the engine (and then pushed, if the cache lacks it), or a verified entry of the cache."""
        if not ref.startswith(f"{TAG_PREFIX}/"):
            return self._engine.obtainable(ref)
        return self._local(ref) is not None or self._verified(ref) is not None

    def build(self, context: IO[bytes], tag: str, on_line: BuildEvent, network: str | None = None) -> str:
        image_id = self._engine.build(context, tag, on_line, network=network)
        self._local(tag)
        return image_id

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> str:
        image_id = self._engine.import_rootfs(tarball, repository, tag)
        self._local(f"{repository}:{tag}")
        return image_id

    # -- what stays as it is -------------------------------------------------------
    def pull(self, ref: str) -> None:
        self._engine.pull(ref)

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._engine.tag(image, repository, tag)

    def archive_from_image(self, image: str, path: str) -> AbstractContextManager[IO[bytes]]:
        return self._engine.archive_from_image(image, path)

    def load_image(self, archive: Path) -> None:
        self._engine.load_image(archive)

    def save_image(self, ref: str) -> Iterator[bytes]:
        return self._engine.save_image(ref)

    # -- the cache ----------------------------------------------------------------
    def _local(self, ref: str) -> ImageFacts | None:
        """The engine's facts about ``ref``; a stage it holds is remembered and pushed if the cache lacks it."""
        facts = self._engine.image_facts(ref)
        if facts is not None and ref.startswith(f"{TAG_PREFIX}/"):
            self._chains.add(facts.layers)
            self._push(ref)
        return facts

    def _verified(self, stage_image: str) -> Reference | None:
        """The cache entry of ``stage_image``, pinned by digest, if its signature verifies (asked once)."""
        if stage_image not in self._entries:
            entry = self.entry(stage_image)
            digest = Registry(entry).manifest_digest(entry.tag or "")
            pinned = entry.with_digest(digest) if digest is not None else None
            if pinned is not None:
                self._in_cache.add(stage_image)
                try:
                    verify_signature(pinned, self._public_key, {STAGE_ANNOTATION: stage_image})
                except BuildImageError as exc:
                    self._say(f"      cache entry {entry} refused ({exc}); building {stage_image} instead")
                    pinned = None
            self._entries[stage_image] = pinned
        return self._entries[stage_image]

    def _pull(self, stage_image: str) -> bool:
        """Load ``stage_image`` from its verified entry, fetching only the layers the engine lacks."""
        pinned = self._verified(stage_image)
        if pinned is None or pinned.digest is None:
            return False
        started = time.monotonic()
        registry = Registry(pinned)
        manifest: dict[str, Any] = json.loads(registry.find_manifest(pinned.digest) or b"{}")  # checked
        config = registry.get_blob(manifest["config"]["digest"])  # checked against the signed manifest
        diff_ids: list[str] = json.loads(config)["rootfs"]["diff_ids"]
        layers: list[dict[str, Any]] = manifest.get("layers", [])
        if len(layers) != len(diff_ids):
            raise ImageUnreadable(f"cache entry {pinned}: {len(layers)} layers for {len(diff_ids)} diff IDs")
        held = self._held(diff_ids)
        try:
            fetched = self._load(registry, stage_image, config, layers, diff_ids, held)
        except BuildFailed:
            if held == 0:
                raise
            fetched = self._load(registry, stage_image, config, layers, diff_ids, 0)  # a held layer went away
        self._chains.add(tuple(diff_ids))
        size = sum(int(layers[i].get("size", 0)) for i in fetched) / 1e6
        self._say(f"      pulled  {stage_image} from {pinned} (signature verified; {len(fetched)} of "
                  f"{len(layers)} layers fetched, {size:.0f} MB, {time.monotonic() - started:.1f}s)")
        return True

    def _learn(self, stage_image: str) -> None:
        """Remember the compressed layers of ``stage_image``'s verified entry, so a push reuses them.

        Only a verified entry is learnt from: a forged one could map a diff
        ID to another blob, and the next entry pushed would be signed with it.
        """
        pinned = self._verified(stage_image)
        if pinned is None or pinned.digest is None:
            return
        registry = Registry(pinned)
        manifest: dict[str, Any] = json.loads(registry.find_manifest(pinned.digest) or b"{}")
        diff_ids: list[str] = json.loads(registry.get_blob(manifest["config"]["digest"]))["rootfs"]["diff_ids"]
        for diff_id, layer in zip(diff_ids, manifest.get("layers", []), strict=False):
            self._compressed.setdefault(diff_id, oci.Blob.in_registry(layer["mediaType"], layer["digest"],
                                                                      int(layer["size"])))

    def _held(self, diff_ids: Sequence[str]) -> int:
        """How many of the lowest layers the engine already holds: the longest chain it has in common."""
        return max((_common_prefix(chain, diff_ids) for chain in self._chains), default=0)

    def _load(self, registry: Registry, stage_image: str, config: bytes, layers: Sequence[Mapping[str, Any]],
              diff_ids: Sequence[str], held: int) -> list[int]:
        """Fetch layers ``held`` and up (in parallel), load the image; return the indexes fetched."""
        wanted = list({diff_ids[i]: i for i in reversed(range(held, len(diff_ids)))}.values())
        with tempfile.TemporaryDirectory(prefix="build-image-cache-") as work:
            paths = {diff_ids[i]: Path(work) / f"layer-{i}.tar" for i in wanted}
            with ThreadPoolExecutor(max_workers=FETCHERS) as pool:
                list(pool.map(lambda i: _fetch_layer(registry, layers[i], diff_ids[i], paths[diff_ids[i]]), wanted))
            archive = Path(work) / "stage.tar"
            _write_save_archive(archive, stage_image, config, diff_ids, paths)
            self._engine.load_image(archive)
        return wanted

    def _push(self, stage_image: str) -> None:
        """Push and sign ``stage_image`` unless the cache has it or there is no signing key."""
        if self._signing_key is None or stage_image in self._in_cache:
            return
        entry = self.entry(stage_image)
        self._in_cache.add(stage_image)
        if Registry(entry).manifest_digest(entry.tag or "") is not None:
            self._learn(stage_image)
            return
        image = oci.from_save_archive(as_file(self._engine.save_image(stage_image)), self._compressed)
        pinned = entry.with_digest(push(image, entry))
        self._compressed.update(image.by_diff_id())
        sign_with(pinned, self._signing_key, {STAGE_ANNOTATION: stage_image})
        self._say(f"      pushed  {stage_image} to {pinned} (signed)")


def _common_prefix(one: Sequence[str], other: Sequence[str]) -> int:
    count = 0
    for left, right in zip(one, other, strict=False):
        if left != right:
            break
        count += 1
    return count


def _fetch_layer(registry: Registry, layer: Mapping[str, Any], diff_id: str, target: Path) -> None:
    """Stream one layer blob to ``target`` as a tar, checking its digest and the signed config's diff ID."""
    blob, tar = hashlib.sha256(), hashlib.sha256()
    inflate = zlib.decompressobj(wbits=31) if str(layer.get("mediaType", "")).endswith("gzip") else None
    with registry.open_blob(layer["digest"]) as stream, target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            blob.update(chunk)
            data = inflate.decompress(chunk) if inflate is not None else chunk
            tar.update(data)
            out.write(data)
        if inflate is not None:
            rest = inflate.flush()
            tar.update(rest)
            out.write(rest)
    if "sha256:" + blob.hexdigest() != layer["digest"]:
        raise RegistryError(f"{registry.reference.registry} served other bytes for {layer['digest']}",
                            hint="the registry's storage is damaged or tampered with")
    if "sha256:" + tar.hexdigest() != diff_id:
        raise ImageUnreadable(f"layer {layer['digest']} does not unpack to {diff_id}, as the signed config says",
                              hint="the cache entry is damaged: remove it from the cache")


def _write_save_archive(path: Path, tag: str, config: bytes, diff_ids: Sequence[str],
                        layers: Mapping[str, Path]) -> None:
    """A one-image ``docker save`` archive of the entry's config, holding only the ``layers`` given.

    The manifest names every layer; the engine reads a layer file only when
    it lacks that chain of diff IDs, so layers it holds are left out.
    """
    image_id = hashlib.sha256(config).hexdigest()
    names = {diff_id: f"{diff_id.split(':', 1)[1]}/layer.tar" for diff_id in diff_ids}
    manifest = json.dumps([{"Config": f"{image_id}.json", "RepoTags": [tag],
                            "Layers": [names[diff_id] for diff_id in diff_ids]}]).encode()
    with tarfile.TarFile(path, "w", copybufsize=CHUNK) as archive:
        _add_bytes(archive, f"{image_id}.json", config)
        for diff_id, layer in layers.items():
            archive.add(layer, arcname=names[diff_id])
        _add_bytes(archive, "manifest.json", manifest)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, fileobj=io.BytesIO(data))
