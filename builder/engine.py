"""The engine seam: the only module that talks to the Docker SDK.

:class:`DockerEngine` implements :class:`builder.engine_protocol.Engine` on a
Docker daemon, so a missing daemon is reported once, in one way, and the rest
of the code never sees SDK objects or raw API dictionaries.  Construct it
with :meth:`DockerEngine.connect`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import docker
import docker.errors

from builder.engine_protocol import BuildEvent, ImageFacts, as_file
from builder.errors import BuildFailed, ConfigError, EngineUnavailable, ImageUnreadable

# The classic builder's " ---> 0123456789ab" line: the image a step produced.
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12})$")


class DockerEngine:
    """A connected Docker engine (implements :class:`builder.engine_protocol.Engine`)."""

    def __init__(self, client: docker.DockerClient) -> None:
        self._client = client
        self._api = client.api

    @classmethod
    def connect(cls) -> DockerEngine:
        """Connect to the engine named by DOCKER_HOST (or the local socket)."""
        try:
            client = docker.from_env(timeout=600)
            client.ping()
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(
                f"no Docker engine answers ({exc})",
                hint="start it (`dockerd &` or `systemctl start docker`) or set DOCKER_HOST",
            ) from exc
        return cls(client)

    # -- images -----------------------------------------------------------
    def image_facts(self, ref: str) -> ImageFacts | None:
        """Facts about ``ref``, or None when the engine does not have it."""
        try:
            data = self._api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        config = data.get("Config") or {}
        return ImageFacts(
            id=data["Id"],
            size=int(data.get("Size") or 0),
            user=config.get("User") or "",
            entrypoint=tuple(config.get("Entrypoint") or ()),
            labels=dict(config.get("Labels") or {}),
            layers=tuple((data.get("RootFS") or {}).get("Layers") or ()),
        )

    def has_image(self, ref: str) -> bool:
        return self.image_facts(ref) is not None

    def obtainable(self, ref: str) -> bool:
        """Only what the engine holds: a plain engine has no stage cache to fetch from."""
        return self.has_image(ref)

    def save_image(self, ref: str) -> Iterator[bytes]:
        """Stream ``docker save`` of ``ref`` (manifest.json + layer tars)."""
        try:
            return iter(self._api.get_image(ref))
        except docker.errors.ImageNotFound as exc:
            raise ImageUnreadable(f"the engine has no image {ref!r}",
                                  hint="build it first or check the name with `docker images`") from exc
        except docker.errors.APIError as exc:
            raise ImageUnreadable(f"could not export {ref!r}: {exc.explanation}") from exc

    def load_image(self, archive: Path) -> None:
        """Load a ``docker save``-format archive written by the assembler."""
        with archive.open("rb") as data:
            for event in self._api.load_image(data):
                if "error" in event:
                    raise BuildFailed(f"the engine refused the assembled image: {event['error']}")

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> str:
        """Import a root-filesystem tarball as an image; return its ID."""
        result = self._api.import_image(src=str(tarball), repository=repository, tag=tag)
        facts = self.image_facts(f"{repository}:{tag}")
        if facts is None:
            raise BuildFailed(f"importing {tarball} did not produce {repository}:{tag}: {result}")
        return facts.id

    def pull(self, ref: str) -> None:
        """Pull ``ref`` (pinned by digest) from its registry."""
        try:
            self._api.pull(ref)
        except docker.errors.APIError as exc:
            raise ConfigError(
                f"cannot pull {ref}: {exc.explanation}",
                hint="no registry reachable? `docker load` the image, or remove bases.builder "
                     "to bootstrap the builder base from Debian packages",
            ) from exc

    def tag(self, image: str, repository: str, tag: str) -> None:
        self._api.tag(image, repository, tag)

    def remove_image(self, ref: str) -> None:
        with suppress(docker.errors.ImageNotFound):
            self._api.remove_image(ref, force=True)

    def tags_under(self, prefix: str) -> dict[str, ImageFacts]:
        """Every local tag whose repository starts with ``prefix`` (``build-image/``), with its facts."""
        found = {}
        for image in self._api.images():
            for tag in image.get("RepoTags") or ():
                if tag.startswith(prefix):
                    found[tag] = ImageFacts(id=image["Id"], size=int(image.get("Size") or 0), user="",
                                            entrypoint=(), labels=dict(image.get("Labels") or {}))
        return found

    def layers_size(self) -> int:
        """Bytes the engine's image layers take on disk (``docker system df``)."""
        return int(self._api.df().get("LayersSize") or 0)

    # -- builds -----------------------------------------------------------
    def build(self, context: IO[bytes], tag: str, on_line: BuildEvent, network: str | None = None) -> str:
        """Build a Dockerfile context (a tar stream) with the classic builder.

        Each log line is handed to ``on_line`` as it arrives; an error event
        raises :class:`BuildFailed` with the engine's message.  ``network``
        names the Docker network RUN steps use (default: the engine's bridge).
        Returns the ID.
        """
        events = self._api.build(
            fileobj=context, custom_context=True, tag=tag, decode=True,
            rm=True, forcerm=True, pull=False, network_mode=network,
        )
        layers: list[str] = []
        for event in events:
            if "stream" in event:
                for line in event["stream"].splitlines():
                    layers += _LAYER.findall(line)
                    on_line(line)
            elif "error" in event:
                self._remove_untagged(layers)
                raise BuildFailed(event["error"].strip())
        facts = self.image_facts(tag)
        if facts is None:
            raise BuildFailed(f"the engine finished building {tag} but has no such image")
        return facts.id

    def _remove_untagged(self, layers: list[str]) -> None:
        """After a failed build, remove the step images it left behind, newest first.

        Only images without a tag and without children go (the engine refuses
        the rest without ``force``): the FROM image and cached steps of other
        builds stay, and a failed build leaves no dangling images.
        """
        for layer in reversed(layers):
            try:
                if not self._api.inspect_image(layer).get("RepoTags"):
                    self._api.remove_image(layer, force=False, noprune=False)
            except docker.errors.APIError:
                continue

    # -- files out of images ----------------------------------------------
    @contextmanager
    def archive_from_image(self, image: str, path: str) -> Iterator[IO[bytes]]:
        """A tar stream of ``path`` inside ``image`` (a created, never started container)."""
        container = self._api.create_container(image, command=["/nonexistent"])
        try:
            chunks, _stat = self._api.get_archive(container["Id"], path)
            yield as_file(iter(chunks))
        finally:
            self._api.remove_container(container["Id"], force=True)
