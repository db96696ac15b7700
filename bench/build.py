"""Build benchmark: cold build, app-change rebuild, no-op rebuild, image sizes.

Prints figures; asserts nothing.  ``--cold`` first removes every
``build-image/*`` image and the engine's build cache (slow: a full OTP build).

    python3 bench/build.py [--cold]

Targets (2 cores): cold ≤ 15 min, app change ≤ 60 s, no-op ≤ 10 s,
image ≤ 35 MB and ≤ 0.5× a Debian-slim image of the same release run by its
stock start scripts (the way Phoenix's release Dockerfile builds one).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from builder import config as config_module
from builder.build import Progress
from builder.debian import host_mirror
from builder.engine import DockerEngine
from builder.engine_protocol import Engine
from builder.pipeline import build, prepare
from builder.runner import run

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hello" / "build-image.yaml"
REFERENCE_TAG = "build-image-bench/reference-slim:latest"
SLIM_TAG = "build-image-bench/debian-slim:bookworm"
# What Phoenix's generated Dockerfile installs in its runner stage.
REFERENCE_PACKAGES = "libstdc++6 openssl libncurses5 locales ca-certificates"


def timed_build(config: config_module.Config) -> float:
    started = time.monotonic()
    build(config, Progress(out=io.StringIO()), verify=True)
    return time.monotonic() - started


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


def wipe_cache() -> None:
    images = [line for line in docker("images", "--format", "{{.Repository}}:{{.Tag}}").split()
              if line.startswith("build-image/")]
    if images:
        docker("rmi", "-f", *images)
    docker("builder", "prune", "-af")


def app_change_rebuild(config: config_module.Config) -> float:
    """Copy the app, change one line, rebuild: OTP and Elixir must come from the cache."""
    with tempfile.TemporaryDirectory(prefix="bench-app-") as work:
        app = Path(work) / "hello"
        shutil.copytree(config.app, app, ignore=shutil.ignore_patterns("_build", "deps"))
        http = app / "lib" / "hello" / "http.ex"
        http.write_text(http.read_text().replace('"hello', '"hello, bench', 1))
        changed = dataclasses.replace(config, app=app, tag="build-image-bench/changed:latest")
        return timed_build(changed)


def reference_size(engine: Engine, config: config_module.Config) -> int:
    """A Debian slim runner + the same release with its stock scripts."""
    if not engine.has_image(SLIM_TAG):
        with tempfile.TemporaryDirectory() as work:
            tarball = Path(work) / "slim.tar"
            suite = config.bases.debian_suite
            # What makes debian:<suite>-slim slim: no docs, manuals or translations.
            slim = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "info", "locale", "lintian")]
            run(["mmdebstrap", "--variant=apt", "--mode=root", "--format=tar", *slim, suite, tarball,
                 *host_mirror(config.bases.mirror).lines(suite)])
            engine.import_rootfs(tarball, *SLIM_TAG.split(":"))
    release = prepare(config, Progress(out=io.StringIO())).stage("release").image
    dockerfile = (
        f"FROM {release} AS release\n"
        f"FROM {SLIM_TAG}\n"
        f"RUN apt-get update && apt-get install -y --no-install-recommends {REFERENCE_PACKAGES}"
        " && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n"
        "COPY --from=release /release /app\n"
        f'CMD ["/app/bin/{config.release}", "start"]\n'
    )
    subprocess.run(["docker", "build", "-q", "-t", REFERENCE_TAG, "-"], input=dockerfile,
                   text=True, check=True, capture_output=True)
    return engine.image_facts(REFERENCE_TAG).size  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="start from an empty cache (full OTP build)")
    args = parser.parse_args()
    config = config_module.load(EXAMPLE)
    engine = DockerEngine.connect()
    if args.cold:
        wipe_cache()
        print(f"cold build:              {timed_build(config):8.1f} s   (target ≤ 900 s)")
    else:
        timed_build(config)
    print(f"rebuild after app change:{app_change_rebuild(config):8.1f} s   (target ≤ 60 s)")
    print(f"no-op rebuild:           {timed_build(config):8.1f} s   (target ≤ 10 s)")
    size = engine.image_facts(config.tag).size  # type: ignore[union-attr]
    reference = reference_size(engine, config)
    print(f"image size:              {size / 1e6:8.1f} MB  (target ≤ 35 MB)")
    print(f"reference (slim+scripts):{reference / 1e6:8.1f} MB")
    print(f"ratio:                   {size / reference:8.2f} ×   (target ≤ 0.5×)")


if __name__ == "__main__":
    main()
