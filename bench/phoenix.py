"""Phoenix benchmark: a cold deps + release build, a one-line controller change, the image size.

examples/phoenix against the offline fixture repository (``../shared/fixtures/hex``,
served on a private Docker network as the tests do), with OTP and Elixir
from the stage cache.  Prints figures; asserts nothing.

    python3 bench/phoenix.py

- cold: a copy of the app whose mix.exs carries a fresh comment, so the
  release-name, deps and release stages are all new (no stage image is
  deleted: the shared cache stays as it is);
- rebuild: one line of a controller changed; target ≤ 30 s, no dependency
  recompiled (the deps stage comes from the cache);
- size: the image next to Debian slim with the same release and its stock
  scripts, built the way Phoenix's generated Dockerfile does; target ≤ 0.4×.

The stage images and app images the bench made are removed at the end.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import yaml

REPO = Path(__file__).resolve().parent.parent
for helpers in ("tests", "tests/runtime", "tests/apps", "bench"):
    sys.path.insert(0, str(REPO / helpers))

from build import reference_size  # noqa: E402  (bench/build.py)
from builder import config as config_module  # noqa: E402
from builder.build import Progress, build_stages, debian_rootfs  # noqa: E402
from builder.engine import DockerEngine  # noqa: E402
from builder.pipeline import build, prepare  # noqa: E402
from hex_repository import FIXTURES, HEX_VERSION, build_repository, serve  # noqa: E402
from runtime_support import create_network, remove_network  # noqa: E402

EXAMPLE = REPO / "examples" / "phoenix"
CONTROLLER = Path("lib/hello_phoenix_web/controllers/status_controller.ex")


def timed(config: config_module.Config) -> tuple[float, str]:
    log = io.StringIO()
    started = time.monotonic()
    build(config, Progress(out=log), verify=True)
    return time.monotonic() - started, log.getvalue()


def write_config(app: Path, work: Path, url: str, key: Path, network: str, tag: str) -> config_module.Config:
    raw = yaml.safe_load((EXAMPLE / "build-image.yaml").read_text())
    raw.update(app=str(app), tag=tag)
    raw["hex"] = {**raw["hex"], "path": str(FIXTURES / f"hex-{HEX_VERSION}.tar.gz"), "network": network,
                  "repository": {"url": url, "public_key": str(key)}}
    path = work / f"{tag.replace(':', '-').replace('/', '-')}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return config_module.load(path)


def elixir_image(engine: DockerEngine) -> str:
    config = config_module.load(REPO / "examples" / "hello" / "build-image.yaml")
    progress = Progress(out=io.StringIO())
    plan = prepare(config, progress)
    build_stages(engine, plan.base, (plan.stage("otp"), plan.stage("elixir")), {"elixir"}, progress,
                 debian_rootfs(config, progress))
    return plan.stage("elixir").image


def main() -> None:
    if not (FIXTURES / "packages").is_dir():
        sys.exit(f"no Hex fixtures at {FIXTURES}: set BUILD_IMAGE_HEX_FIXTURES")
    engine, client = DockerEngine.connect(), docker.from_env(timeout=600)
    network = create_network(client)
    made: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-phoenix-") as tmp:
            work = Path(tmp)
            image = elixir_image(engine)
            public = build_repository(client, image, FIXTURES, work)
            url, server = serve(client, image, network, public)
            app = work / "phoenix"
            shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
            mix = app / "mix.exs"
            mix.write_text(mix.read_text() + f"# bench {uuid.uuid4().hex}\n")
            config = write_config(app, work, url, public / "public_key", network.name, "build-image-bench/phoenix:cold")
            cold, _ = timed(config)
            plan = prepare(config, Progress(out=io.StringIO()), engine)
            made += [plan.tag, *(s.image for s in plan.stages if s.name in ("deps", "release", "launcher"))]
            controller = app / CONTROLLER
            controller.write_text(controller.read_text().replace('%{status: "ok"}', '%{status: "ok", bench: 1}'))
            rebuild, log = timed(config)
            made += [s.image for s in prepare(config, Progress(out=io.StringIO()), engine).stages
                     if s.name == "release"]
            deps_cached = "cached  build-image/deps-" in log
            size = engine.image_facts(plan.tag).size  # type: ignore[union-attr]
            reference = reference_size(engine, plan.config)
            client.containers.get(server).remove(force=True)
        print(f"cold deps + release build:    {cold:8.1f} s   (OTP, Elixir cached)")
        print(f"rebuild after a one-line controller change: {rebuild:6.1f} s   (target ≤ 30 s); "
              f"deps stage {'cached, nothing recompiled' if deps_cached else 'REBUILT'}")
        print(f"image size:                   {size / 1e6:8.1f} MB")
        print(f"reference (slim + scripts):   {reference / 1e6:8.1f} MB")
        print(f"ratio:                        {size / reference:8.2f} ×   (target ≤ 0.4×)")
    finally:
        for tag in made:
            engine.remove_image(tag)
        remove_network(network)


if __name__ == "__main__":
    main()
