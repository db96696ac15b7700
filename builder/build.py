"""Run the plan's stages on the engine, with progress a person can follow.

Each stage is one Docker build whose tag is its input key: when the engine
already has the tag the stage is reported as cached and skipped outright,
which is what makes a no-op rebuild take seconds.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import TextIO

from builder.debian import Mirror, bootstrap_rootfs
from builder.engine import Engine
from builder.errors import BuildFailed
from builder.plan import Bootstrap, Plan, Stage
from builder.render import context_archive

LOG_TAIL = 60
HEARTBEAT = 30.0  # seconds between "still building" lines on a quiet console
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Progress:
    """Prints one line per stage (cached / building / done, with elapsed time).

    Docker's ``Step n/m`` lines are shown as they come so a long stage never
    looks stuck; with ``verbose`` every log line is shown.  The last lines are
    kept so a failure can show what went wrong.
    """

    def __init__(self, total: int, out: TextIO = sys.stderr, verbose: bool = False) -> None:
        self.total = total
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

    def done(self, started: float, image: str) -> None:
        self.say(f"      built   {image} in {_elapsed(time.monotonic() - started)}")


def _elapsed(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def ensure_builder_base(engine: Engine, base: Bootstrap, mirror: Mirror, epoch: int,
                        progress: Progress) -> None:
    """Bootstrap the builder base from Debian packages unless the engine has it."""
    started = progress.begin("builder-base", f"Debian {base.suite} with compilers (mmdebstrap)")
    if base.reference is not None:
        if not engine.has_image(base.reference):
            progress.say(f"      pulling {base.reference}")
            engine.pull(base.reference)
        engine.tag(base.reference, *base.image.split(":", 1))
        progress.cached(base.reference)
        return
    if engine.has_image(base.image):
        progress.cached(base.image)
        return
    with tempfile.TemporaryDirectory(prefix="build-image-base-") as work:
        tarball = Path(work) / "rootfs.tar"
        progress.say(f"      mmdebstrap {base.suite} from {mirror.archive}")
        bootstrap_rootfs(mirror, base.suite, base.packages, tarball, epoch)
        repository, tag = base.image.split(":", 1)
        engine.import_rootfs(tarball, repository, tag)
    progress.done(started, base.image)


def build_stage(engine: Engine, stage: Stage, progress: Progress) -> None:
    """Build one stage (or report it cached); on failure name it and show its log."""
    started = progress.begin(stage.name, stage.purpose)
    if engine.has_image(stage.image):
        progress.cached(stage.image)
        return
    try:
        engine.build(context_archive(stage), stage.image, progress.log)
    except BuildFailed as exc:
        log = "\n".join(f"  | {line}" for line in progress.tail)
        raise BuildFailed(
            f"stage {stage.name!r} ({stage.purpose}) failed: {exc}\nlast lines of its log:\n{log}",
            hint="run with --verbose for the whole log, or `build-image render` to inspect the Dockerfile",
        ) from exc
    progress.done(started, stage.image)


def build_all(engine: Engine, plan: Plan, mirror: Mirror, progress: Progress) -> None:
    """The builder base, then every stage in plan order."""
    ensure_builder_base(engine, plan.base, mirror, plan.config.source_date_epoch, progress)
    for stage in plan.stages:
        build_stage(engine, stage, progress)
