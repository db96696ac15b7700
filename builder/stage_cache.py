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
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from builder import oci
from builder.engine_protocol import BuildEvent, Engine, ImageFacts, as_file
from builder.errors import BuildImageError
from builder.plan import TAG_PREFIX
from builder.registry import Reference, Registry, push
from builder.signing import sign_with, verify_signature

STAGE_ANNOTATION = "io.build-image.stage"


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
        self._checked: set[str] = set()

    def entry(self, stage_image: str) -> Reference:
        """Where ``build-image/<repository>:<key>`` lives in the cache."""
        repository, key = stage_image.removeprefix(f"{TAG_PREFIX}/").rsplit(":", 1)
        return Reference(self._cache.registry, self._cache.repository, f"{repository.replace('/', '-')}-{key}")

    # -- what changes ----------------------------------------------------------
    def image_facts(self, ref: str) -> ImageFacts | None:
        facts = self._engine.image_facts(ref)
        if not ref.startswith(f"{TAG_PREFIX}/") or ref in self._checked:
            return facts
        self._checked.add(ref)
        if facts is None and self._pull(ref):
            facts = self._engine.image_facts(ref)
        elif facts is not None:
            self._push(ref)
        return facts

    def has_image(self, ref: str) -> bool:
        return self.image_facts(ref) is not None

    def build(self, context: IO[bytes], tag: str, on_line: BuildEvent, network: str | None = None) -> str:
        image_id = self._engine.build(context, tag, on_line, network=network)
        self._push(tag)
        return image_id

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> str:
        image_id = self._engine.import_rootfs(tarball, repository, tag)
        self._push(f"{repository}:{tag}")
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
    def _pull(self, stage_image: str) -> bool:
        """Load ``stage_image`` from the cache if its entry is there and verifies; say why not otherwise."""
        entry = self.entry(stage_image)
        registry = Registry(entry)
        digest = registry.manifest_digest(entry.tag or "")
        if digest is None:
            return False
        pinned = entry.with_digest(digest)
        try:
            verify_signature(pinned, self._public_key, {STAGE_ANNOTATION: stage_image})
        except BuildImageError as exc:
            self._say(f"      cache entry {entry} refused ({exc}); building {stage_image} instead")
            return False
        manifest = json.loads(registry.find_manifest(digest) or b"{}")
        config = registry.get_blob(manifest["config"]["digest"])
        layers = [gzip.decompress(registry.get_blob(layer["digest"])) for layer in manifest["layers"]]
        oci.from_layers(config, layers)  # refuses layers that do not match the signed config
        with tempfile.TemporaryDirectory(prefix="build-image-cache-") as work:
            archive = Path(work) / "stage.tar"
            archive.write_bytes(_save_archive(stage_image, config, layers))
            self._engine.load_image(archive)
        self._say(f"      pulled  {stage_image} from {pinned} (signature verified)")
        return True

    def _push(self, stage_image: str) -> None:
        """Push and sign ``stage_image`` unless the cache has it or there is no signing key."""
        entry = self.entry(stage_image)
        if self._signing_key is None or Registry(entry).manifest_digest(entry.tag or "") is not None:
            return
        image = oci.from_save_archive(as_file(self._engine.save_image(stage_image)))
        pinned = entry.with_digest(push(image, entry))
        sign_with(pinned, self._signing_key, {STAGE_ANNOTATION: stage_image})
        self._say(f"      pushed  {stage_image} to {pinned} (signed)")


def _save_archive(tag: str, config: bytes, layers: list[bytes]) -> bytes:
    """A one-image ``docker save`` archive holding the cache entry's exact config and layers."""
    image_id = oci.Blob(oci.CONFIG, config).digest.split(":", 1)[1]
    names = [f"{oci.Blob(oci.LAYER, layer).digest.split(':', 1)[1]}/layer.tar" for layer in layers]
    manifest = json.dumps([{"Config": f"{image_id}.json", "RepoTags": [tag], "Layers": names}]).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in ((f"{image_id}.json", config), *zip(names, layers, strict=True),
                           ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
