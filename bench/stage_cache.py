"""How fast a second, empty engine builds the example from the shared stage cache.

Starts a throwaway local registry and cosign key pair, fills the cache from
the main engine (which must have built the example: ``just example``), then
builds the example in a second, empty ``dockerd`` reading the cache, and
prints both times, what was pulled (layers fetched, MB) and whether the two
engines hold the same image.  Not part of CI; it never removes an image from
the main engine.

    python3 bench/stage_cache.py [-c examples/hello/build-image.yaml]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from second_dockerd import second_dockerd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "supply"))
from local_registry import local_registry  # noqa: E402

EXAMPLE = REPO / "examples" / "hello" / "build-image.yaml"
PASSWORD = "bench only, never a real secret"


def build(config: Path, cache: str, keys: Path, *, sign: bool, docker_host: str | None) -> tuple[str, str, float]:
    """``build-image build --cache`` in one engine; (image ID, stderr, seconds)."""
    argv = [sys.executable, "-m", "builder", "build", "-c", str(config), "--no-verify",
            "--cache", cache, "--cache-verify-key", str(keys / "cosign.pub")]
    if sign:
        argv += ["--cache-sign-key", str(keys / "cosign.key")]
    env = {**os.environ, "COSIGN_PASSWORD": PASSWORD, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"build failed in {docker_host or 'the main engine'}:\n{done.stderr[-4000:]}")
    return done.stdout.split()[-1], done.stderr, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="build-image-cachebench-"))
    try:
        keys = work / "keys"
        keys.mkdir()
        subprocess.run(["cosign", "generate-key-pair"], cwd=keys, check=True, capture_output=True,
                       env={**os.environ, "COSIGN_PASSWORD": PASSWORD})
        with local_registry(work / "registry") as registry:
            cache = f"{registry}/stage-cache"
            main_id, log, fill = build(args.config, cache, keys, sign=True, docker_host=None)
            print(f"fill (main engine pushes and signs what the cache lacks): {fill:.0f} s", flush=True)
            pushed = [line.strip() for line in log.splitlines() if line.strip().startswith("pushed")]
            print(f"  {len(pushed)} stage images pushed")
            with second_dockerd(work / "engine-2") as host:
                clean_id, log, cold = build(args.config, cache, keys, sign=False, docker_host=host)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"second engine, empty, from the cache: {cold:.0f} s")
    for line in log.splitlines():
        if re.match(r"\s+(pulled|skipped|built|cached)\s", line):
            print(f"  {line.strip()}")
    print(f"same image in both engines: {main_id == clean_id} ({main_id[:19]})")


if __name__ == "__main__":
    main()
