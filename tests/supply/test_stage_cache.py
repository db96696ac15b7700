"""The shared stage cache, proven with two engines.

The main engine pushes the example's stages (signed); a second, empty
``dockerd`` then builds the example pulling the stages it needs (only the
layers it lacks), builder base included, instead of building any.  One cache entry is forged (another
stage's validly signed entry put under the launcher's tag): the second
engine must refuse it, say so, and build the launcher itself.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from builder.registry import Reference, Registry
from cosign_keys import ENV

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = REPO / "examples" / "hello" / "build-image.yaml"
STAGES = ("builder-base", "runtime", "otp", "elixir", "release-hello", "launcher-hello")
PULLED = ("builder-base", "runtime", "otp", "release-hello")

pytestmark = [pytest.mark.docker, pytest.mark.tools("docker-registry", "cosign", "dockerd", "ip", "iptables", "root")]

sys.path.insert(0, str(REPO / "bench"))
from second_dockerd import second_dockerd  # noqa: E402


def build(cache: str, keys: dict[str, Path], *, sign: bool, docker_host: str | None = None) -> str:
    """``build-image build --cache`` (stderr returned); signing new entries only with ``sign``."""
    argv = [sys.executable, "-m", "builder", "build", "-c", str(EXAMPLE_CONFIG), "--no-verify",
            "--cache", cache, "--cache-verify-key", str(keys["signer"] / "cosign.pub")]
    if sign:
        argv += ["--cache-sign-key", str(keys["signer"] / "cosign.key")]
    env = {**ENV, **({"DOCKER_HOST": docker_host} if docker_host else {})}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, cwd=REPO, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_a_second_engine_builds_the_example_from_the_signed_cache(
        registry: str, keys: dict[str, Path], example_image: str) -> None:
    cache = f"{registry}/stage-cache"
    build(cache, keys, sign=True)  # the main engine has every stage: the cache gets the ones it lacks
    with urllib.request.urlopen(f"http://{registry}/v2/stage-cache/tags/list", timeout=10) as response:
        listed = json.load(response)["tags"]
    entries = {stage: next(t for t in listed if t.startswith(f"{stage}-")) for stage in STAGES}
    # Forge: the runtime's validly signed entry under the launcher's tag.
    forged = Reference.parse(f"{cache}:{entries['launcher-hello']}")
    runtime = Registry(Reference.parse(f"{cache}:{entries['runtime']}")).find_manifest(entries["runtime"])
    assert runtime is not None
    request = urllib.request.Request(f"{forged.base_url}/manifests/{forged.tag}", data=runtime, method="PUT",
                                     headers={"Content-Type": json.loads(runtime)["mediaType"]})
    urllib.request.urlopen(request, timeout=10).close()

    # Not under tmp_path: a concurrent pytest run may prune old base directories, and the socket path stays short.
    root = Path(tempfile.mkdtemp(prefix="build-image-engine2-"))
    try:
        with second_dockerd(root) as host:
            started = time.monotonic()
            log = build(cache, keys, sign=False, docker_host=host)
            seconds = time.monotonic() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"second engine, cold, from the cache: {seconds:.0f} s")
    # What the assembler reads is pulled, and the builder base the refused launcher is built on;
    # the Elixir stage is inside the release stage's layers and is never fetched on its own.
    for stage in PULLED:
        assert f"pulled  build-image/{stage}:" in log, log
    assert "skipped build-image/elixir:" in log and "pulled  build-image/elixir:" not in log
    assert "cache entry" in log and "launcher-hello" in log and "refused" in log
    assert "built   build-image/launcher-hello:" in log
    for stage in STAGES[:-1]:
        assert f"built   build-image/{stage}:" not in log
