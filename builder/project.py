"""What the mix project says about itself, read the way mix reads it.

build-image.yaml may leave ``release:`` out: the release is then the one
``mix release`` would build (the only configured release, else
``default_release``, else the app).  Only mix can answer that for any
mix.exs, so the answer comes from evaluating mix.exs on the Elixir stage,
in a small stage keyed by mix.exs alone (see ``release_probe`` in
``builder.plan``): a code change reuses it, and naming the release in
build-image.yaml skips it.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from builder.build import Progress, RootfsWriter, build_stages
from builder.config import Config
from builder.engine_protocol import Engine
from builder.errors import BuildFailed, ConfigError
from builder.plan import RELEASE_NAME_FILE, release_probe
from builder.sources import FetchedSource


def resolve_release(engine: Engine, config: Config, otp: FetchedSource, elixir: FetchedSource,
                    progress: Progress, write_rootfs: RootfsWriter) -> Config:
    """``config`` with its release named: as given, or as mix.exs decides."""
    if config.release is not None:
        return config
    probe = release_probe(config, otp, elixir)
    progress.say(f"release: not named in {config.file.name}, asking mix.exs")
    progress.total, progress.number = 1 + len(probe.stages), 0
    build_stages(engine, probe.base, probe.stages, {probe.stages[-1].name}, progress, write_rootfs)
    answer = _read_answer(engine, probe.answer)
    name = release_from_answer(answer, config)
    progress.say(f"      release {name} (from mix.exs)")
    progress.number = 0
    return config.resolved(name, "mix.exs")


def release_from_answer(answer: str, config: Config) -> str:
    """The release name from ``release_name.exs``'s one line, or a ConfigError saying what to write."""
    lines = answer.strip().splitlines() or [""]
    kind, _, rest = lines[-1].partition(" ")  # the last line: mix.exs itself may print
    where = config.app / "mix.exs"
    if kind == "release" and rest:
        return rest
    if kind == "several":
        raise ConfigError(f"{where} configures several releases ({', '.join(rest.split())}) and no "
                          "default_release", hint=f"name the one to build: `release: NAME` in {config.file}")
    if kind == "umbrella":
        raise ConfigError(f"{where} is an umbrella project without releases: mix cannot build one",
                          hint="add a release listing its applications under releases: in mix.exs "
                               f"(mix requires it for umbrellas), or `release: NAME` in {config.file}")
    raise ConfigError(f"{where} could not be evaluated to find its release: {rest or answer!r}",
                      hint=f"name the release in {config.file} (`release: NAME`) to skip this step")


def overlay_scripts(app: Path) -> list[str]:
    """Shell scripts among the release overlays (``rel/overlays``, as phx.gen.release writes them).

    mix copies them into the release, but the image has no shell to run them,
    so the assembler leaves every script out; the build names these, the
    user's own, so none disappears silently.
    """
    overlays = app / "rel" / "overlays"
    if not overlays.is_dir():
        return []
    return [path.relative_to(app).as_posix() for path in sorted(overlays.rglob("*")) if _is_script(path)]


def _is_script(path: Path) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    with path.open("rb") as data:
        return data.read(2) == b"#!"


def _read_answer(engine: Engine, image: str) -> str:
    with (engine.archive_from_image(image, RELEASE_NAME_FILE) as stream,
          tarfile.open(fileobj=stream, mode="r|") as archive):
        for member in archive:
            data = archive.extractfile(member) if member.isreg() else None
            if data is not None:
                return data.read(4096).decode("utf-8", errors="replace")
    raise BuildFailed(f"{image} holds no {RELEASE_NAME_FILE}")
