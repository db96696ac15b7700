"""Test doubles for the unit tier: an engine held in memory, and the example's plan without downloads.

It keeps images as :class:`ImageFacts` by reference, serves stage outputs
from tar bytes the test provides, keeps loaded ``docker save`` archives so
they can be exported again, and records every call, so a test can assert
both what the pipeline produced and what it asked the engine.  Tests type
it as :class:`~builder.engine_protocol.Engine`, so a type checker proves it
implements the protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from builder import config as config_module
from builder import debian
from builder.engine_protocol import BuildEvent, ImageFacts
from builder.errors import BuildFailed, ConfigError, ImageUnreadable
from builder.plan import Plan, make_plan
from builder.sources import FetchedSource

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello" / "build-image.yaml"


def example_plan(tmp_path: Path, **bases: str) -> Plan:
    """The example app's plan, small local files standing in for its sources; ``bases`` overrides."""
    config = config_module.load(EXAMPLE)
    config = dataclasses.replace(config, bases=dataclasses.replace(config.bases, **bases))
    sources = []
    for name, version in (("otp", "27.3.4.1"), ("elixir", "1.18.3")):
        path = tmp_path / f"{name}.tar.gz"
        path.write_bytes(name.encode())
        sources.append(FetchedSource(name, version, path, name.ljust(64, "0"), "test"))
    return make_plan(config, *sources)


@dataclass(frozen=True)
class ScriptedBuild:
    """What the fake engine does when asked to build a tag: log lines, then success or an error."""

    lines: tuple[str, ...] = ("Step 1/1 : RUN true",)
    error: str | None = None


@dataclass
class FakeEngine:
    """In-memory :class:`~builder.engine_protocol.Engine`; see the module docstring."""

    images: dict[str, ImageFacts] = field(default_factory=dict)
    registry: set[str] = field(default_factory=set)  # what ``pull`` can fetch
    builds: dict[str, ScriptedBuild] = field(default_factory=dict)  # by tag; default: one clean step
    trees: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (image, path) -> tar bytes
    archives: dict[str, bytes] = field(default_factory=dict)  # tag -> docker-save archive loaded
    calls: list[tuple[str, str]] = field(default_factory=list)  # (operation, reference), in order

    def add_image(self, ref: str, labels: Mapping[str, str] | None = None) -> ImageFacts:
        """Put an image in the engine, as if built or pulled earlier; its ID derives from ``ref``."""
        facts = ImageFacts(id="sha256:" + hashlib.sha256(ref.encode()).hexdigest(), size=0, user="",
                           entrypoint=(), labels=dict(labels or {}))
        self.images[ref] = facts
        return facts

    # -- the protocol -------------------------------------------------------
    def image_facts(self, ref: str) -> ImageFacts | None:
        self.calls.append(("image_facts", ref))
        return self.images.get(ref)

    def has_image(self, ref: str) -> bool:
        self.calls.append(("has_image", ref))
        return ref in self.images

    def obtainable(self, ref: str) -> bool:
        self.calls.append(("obtainable", ref))
        return ref in self.images

    def pull(self, ref: str) -> None:
        self.calls.append(("pull", ref))
        if ref not in self.registry:
            raise ConfigError(f"cannot pull {ref}: manifest unknown")
        self.add_image(ref)

    def tag(self, image: str, repository: str, tag: str) -> None:
        self.calls.append(("tag", f"{repository}:{tag}"))
        self.images[f"{repository}:{tag}"] = self.images[image]

    def import_rootfs(self, tarball: Path, repository: str, tag: str) -> str:
        self.calls.append(("import_rootfs", f"{repository}:{tag}"))
        tarball.read_bytes()  # the writer must have written it
        return self.add_image(f"{repository}:{tag}").id

    def build(self, context: IO[bytes], tag: str, on_line: BuildEvent, network: str | None = None) -> str:
        self.calls.append(("build", tag))
        with tarfile.open(fileobj=context) as archive:
            assert "Dockerfile" in archive.getnames(), f"the build context of {tag} has no Dockerfile"
        script = self.builds.get(tag, ScriptedBuild())
        for line in script.lines:
            on_line(line)
        if script.error is not None:
            raise BuildFailed(script.error)
        return self.add_image(tag).id

    @contextmanager
    def archive_from_image(self, image: str, path: str) -> Iterator[IO[bytes]]:
        self.calls.append(("archive_from_image", f"{image}:{path}"))
        yield io.BytesIO(self.trees[(image, path)])

    def load_image(self, archive: Path) -> None:
        """Keep the archive under its tag, so ``save_image`` gives it back as ``docker save`` would."""
        self.calls.append(("load_image", str(archive)))
        data = archive.read_bytes()
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            [manifest] = json.load(_member(tar, "manifest.json"))
            config = json.load(_member(tar, manifest["Config"]))["config"]
        for tag in manifest["RepoTags"]:
            self.archives[tag] = data
            self.images[tag] = ImageFacts(
                id="sha256:" + manifest["Config"].removesuffix(".json"), size=len(data),
                user=config.get("User", ""), entrypoint=tuple(config.get("Entrypoint") or ()),
                labels=dict(config.get("Labels") or {}))

    def save_image(self, ref: str) -> Iterator[bytes]:
        self.calls.append(("save_image", ref))
        if ref not in self.archives:
            raise ImageUnreadable(f"the engine has no image {ref!r}")
        return iter([self.archives[ref]])


    def remove_image(self, ref: str) -> None:
        """Not part of the protocol (the pipeline never removes images); the tests' fixtures do."""
        self.images.pop(ref, None)
        self.archives.pop(ref, None)


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    member = tar.extractfile(name)
    assert member is not None, f"{name} is not a file in the archive"
    return member


def fake_apt(monkeypatch: pytest.MonkeyPatch, cache: Path, shown: bytes,
             deb: Callable[[str], bytes]) -> list[list[str]]:
    """apt answered without a network: ``apt-cache`` prints ``shown`` (Packages
    stanzas), ``apt-get download PKG=VER`` writes ``deb(PKG=VER)`` as the .deb
    where it runs, everything else succeeds; returns every argv, in order."""
    calls: list[list[str]] = []

    def run(argv: Sequence[str | Path], *, cwd: Path | None = None, check: bool = True,
            **_: object) -> subprocess.CompletedProcess[bytes]:
        words = [str(word) for word in argv]
        calls.append(words)
        if words[0] == "apt-cache":
            return subprocess.CompletedProcess(words, 0, shown, b"")
        if "download" in words:
            assert cwd is not None
            (cwd / f"{words[-1].replace('=', '_')}_all.deb").write_bytes(deb(words[-1]))
        return subprocess.CompletedProcess(words, 0, b"", b"")

    monkeypatch.setattr(debian, "run", run)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return calls
