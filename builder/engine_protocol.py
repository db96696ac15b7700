"""What the pipeline asks of a container engine, and nothing more.

:class:`Engine` names every operation ``build``, ``assemble`` and ``verify``
use.  The Docker implementation is :class:`builder.engine.DockerEngine`;
tests use an in-memory one.  Importing this module loads no SDK, so the
parts of the tool that only read configuration or images never need one.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

BuildEvent = Callable[[str], None]


@dataclass(frozen=True)
class ImageFacts:
    """What the tool needs to know about a local image."""

    id: str
    size: int
    user: str
    entrypoint: tuple[str, ...]
    labels: dict[str, str]
    layers: tuple[str, ...] = ()  # diff IDs, lowest first: what a stage cache need not fetch again


class Engine(Protocol):
    """A container engine holding images, building stages and exporting them."""

    def image_facts(self, ref: str) -> ImageFacts | None:
        """Facts about ``ref``, or None when the engine does not have it."""

    def has_image(self, ref: str) -> bool:
        ...

    def obtainable(self, ref: str) -> bool:
        """Whether the engine has ``ref`` or can get it without building it (from a stage cache).

        Asked before anything is built, so stages no needed stage is built on are never fetched.
        """

    def pull(self, ref: str) -> None:
        """Pull ``ref`` (pinned by digest); :class:`~builder.errors.ConfigError` when it cannot."""

    def tag(self, image: str, repository: str, tag: str) -> None:
        ...

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> str:
        """Import a root-filesystem tarball as an image; return its ID."""

    def build(self, context: IO[bytes], tag: str, on_line: BuildEvent, network: str | None = None) -> str:
        """Build a Dockerfile context (a tar stream), log lines to ``on_line``; return the ID.

        ``network`` names the network the build's RUN steps use (None: the engine's default).

        A failed build raises :class:`~builder.errors.BuildFailed` with the engine's message.
        """

    def archive_from_image(self, image: str, path: str) -> AbstractContextManager[IO[bytes]]:
        """A tar stream of ``path`` inside ``image``."""

    def load_image(self, archive: Path) -> None:
        """Load a ``docker save``-format archive written by the assembler."""

    def save_image(self, ref: str) -> Iterator[bytes]:
        """``docker save`` of ``ref`` as a stream of chunks (manifest.json + layer tars)."""


class _ChunkReader(io.RawIOBase):
    """Expose an iterator of byte chunks as a readable file object."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        view = memoryview(buffer).cast("B")
        size = min(len(view), len(self._pending))
        view[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def as_file(chunks: Iterator[bytes]) -> IO[bytes]:
    """Wrap a chunk iterator (e.g. :meth:`Engine.save_image`) as a buffered file."""
    return io.BufferedReader(_ChunkReader(chunks), buffer_size=1 << 20)
