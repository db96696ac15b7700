"""Run the plan's stages on the engine, with progress a person can follow.

Each stage is one Docker build whose tag is its input key: when the engine
already has the tag the stage is reported as cached and skipped outright,
which is what makes a no-op rebuild take seconds.  Only the stages the
assembler reads must be in the engine; a stage below them is needed only
when one built on it has to be built here, so a stage cache that holds the
release stage never has the Elixir stage fetched.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from builder.config import Config
from builder.debian import bootstrap_rootfs, host_mirror
from builder.engine_protocol import Engine
from builder.errors import BuildFailed
from builder.plan import Bootstrap, Plan, Stage
from builder.render import context_archive

LOG_TAIL = 60
#: The stages :func:`builder.assemble.assemble` reads (tests/pipeline/test_assemble_stages.py holds it to that).
ASSEMBLED_FROM = frozenset({"runtime", "otp", "release", "launcher"})
HEARTBEAT = 30.0  # seconds between "still building" lines on a quiet console
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

#: Writes the builder base's root filesystem tarball: mmdebstrap in a build,
#: a stand-in in tests (see :func:`debian_rootfs`).
RootfsWriter = Callable[[Bootstrap, Path], None]


@dataclass(frozen=True)
class StageImage:
    """A stage's image as the engine holds it, carried forward to the assembler."""

    stage: str
    tag: str
    id: str
    cached: bool  # the engine had it already; nothing was built


#: Every stage's image, by stage name, in plan order.
StageImages = Mapping[str, StageImage]


class Progress:
    """Prints one line per stage (cached / building / done, with elapsed time).

    Docker's ``Step n/m`` lines are shown as they come so a long stage never
    looks stuck; with ``verbose`` every log line is shown.  The last lines are
    kept so a failure can show what went wrong.
    """

    def __init__(self, out: TextIO = sys.stderr, verbose: bool = False) -> None:
        self.total = 0  # the plan sets it: Plan.steps()
        self.out = out
        self.verbose = verbose
        self.number = 0
        self.tail: deque[str] = deque(maxlen=LOG_TAIL)
        self.started = self.last_said = time.monotonic()

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def begin(self, name: str, purpose: str) -> float:
        self.number += 1
        self.tail.clear()
        self.say(f"[{self.number}/{self.total}] {name}: {purpose}")
        self.started = self.last_said = time.monotonic()
        return self.started

    def log(self, line: str) -> None:
        line = _ANSI.sub("", line)
        if not line.strip():
            return
        self.tail.append(line)
        now = time.monotonic()
        if self.verbose:
            self.say(f"      {line}")
        elif line.startswith("Step "):
            self.say(f"      {line[:110]}")
        elif now - self.last_said >= HEARTBEAT:
            self.say(f"      … {_elapsed(now - self.started)}: {line.strip()[:90]}")
        else:
            return
        self.last_said = now

    def cached(self, image: str) -> None:
        self.say(f"      cached  {image}")

    def not_needed(self, image: str) -> None:
        self.say(f"      skipped {image} (not needed: the stages built on it are at hand)")

    def done(self, started: float, image: str) -> None:
        self.say(f"      built   {image} in {_elapsed(time.monotonic() - started)}")


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def ensure_builder_base(engine: Engine, base: Bootstrap, progress: Progress,
                        write_rootfs: RootfsWriter) -> None:
    """Make sure the engine has the builder base: the pinned image, or a bootstrapped one."""
    if base.reference is not None:
        progress.begin("builder-base", f"pinned image {base.reference}")
        if not engine.has_image(base.reference):
            progress.say(f"      pulling {base.reference}")
            engine.pull(base.reference)
        engine.tag(base.reference, *base.image.split(":", 1))
        progress.cached(base.reference)
        return
    started = progress.begin("builder-base", f"Debian {base.suite} with compilers (mmdebstrap)")
    if engine.has_image(base.image):
        progress.cached(base.image)
        return
    with tempfile.TemporaryDirectory(prefix="build-image-base-") as work:
        tarball = Path(work) / "rootfs.tar"
        write_rootfs(base, tarball)
        engine.import_rootfs(tarball, *base.image.split(":", 1))
    progress.done(started, base.image)


def debian_rootfs(config: Config, progress: Progress) -> RootfsWriter:
    """mmdebstrap from the Debian mirror: the one step of a build that reads the host's apt sources."""
    def write(base: Bootstrap, tarball: Path) -> None:
        mirror = host_mirror(config.bases.mirror)
        progress.say(f"      mmdebstrap {base.suite} from {mirror.archive}")
        bootstrap_rootfs(mirror, base.suite, base.packages, tarball, config.source_date_epoch)
    return write


def build_stage(engine: Engine, stage: Stage, progress: Progress) -> StageImage:
    """Build one stage (or report it cached); on failure name it and show its log."""
    started = progress.begin(stage.name, stage.purpose)
    existing = engine.image_facts(stage.image)
    if existing is not None:
        progress.cached(stage.image)
        return StageImage(stage.name, stage.image, existing.id, cached=True)
    try:
        image_id = engine.build(context_archive(stage), stage.image, progress.log, network=stage.network)
    except BuildFailed as exc:
        log = "\n".join(f"  | {line}" for line in progress.tail)
        raise BuildFailed(
            f"stage {stage.name!r} ({stage.purpose}) failed: {exc}\nlast lines of its log:\n{log}",
            hint="run with --verbose for the whole log, or `build-image render` to inspect the Dockerfile",
        ) from exc
    progress.done(started, stage.image)
    return StageImage(stage.name, stage.image, image_id, cached=False)


def build_all(engine: Engine, plan: Plan, progress: Progress, write_rootfs: RootfsWriter) -> StageImages:
    """The builder base and the stages, in plan order, as far as they are needed; the assembler's stage images."""
    return build_stages(engine, plan.base, plan.stages, ASSEMBLED_FROM, progress, write_rootfs)


def build_stages(engine: Engine, base: Bootstrap, stages: Sequence[Stage], wanted: Collection[str],
                 progress: Progress, write_rootfs: RootfsWriter) -> StageImages:
    """Make the ``wanted`` stages (by name) present, and whatever they must be built on; skip the rest.

    Returns the stage images the engine now holds, by stage name: every
    wanted stage, and each stage that was needed on the way.
    """
    needed = needed_images(engine, base.image, stages, wanted)
    if base.image in needed:
        ensure_builder_base(engine, base, progress, write_rootfs)
    else:
        progress.begin("builder-base", "the image every stage starts from")
        progress.not_needed(base.image)
    images = {}
    for stage in stages:
        if stage.image in needed:
            images[stage.name] = build_stage(engine, stage, progress)
        else:
            progress.begin(stage.name, stage.purpose)
            progress.not_needed(stage.image)
    return images


def needed_images(engine: Engine, base_image: str, stages: Sequence[Stage], wanted: Collection[str]) -> set[str]:
    """The images to have in the engine: the wanted stages, and the parent of each needed one that must be built.

    Every image is asked about (newest first), even one not needed: a stage
    cache pushes what the engine holds and the cache lacks when asked.
    """
    needed = {stage.image for stage in stages if stage.name in wanted}
    for image, parent in [*((stage.image, stage.parent) for stage in reversed(stages)), (base_image, None)]:
        if not engine.obtainable(image) and image in needed and parent is not None:
            needed.add(parent)
    return needed
