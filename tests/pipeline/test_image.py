"""The example image end to end: real engine, real build, real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import docker
import pytest

from builder import contract
from builder.certs import write_dist_certs
from hygiene import LABELS

pytestmark = pytest.mark.docker

COOKIE = "a-strong-development-cookie-of-40-chars!"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("certs") / "set"
    write_dist_certs(root, ["node"], owner=(contract.RUN_UID, contract.RUN_GID))
    return root / "node"


def run_args(certs: Path) -> dict:
    return dict(
        read_only=True, tmpfs={"/tmp": ""}, cap_drop=["ALL"], security_opt=["no-new-privileges"],
        environment={"RELEASE_COOKIE": COOKIE, "POD_IP": "127.0.0.1"},
        volumes={str(certs): {"bind": "/app/dist-certs", "mode": "ro"}},
        labels=LABELS,
    )


def get(url: str, deadline: float) -> tuple[int, bytes]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_the_image_serves_http_through_the_launcher(client, example_image: str, certs: Path) -> None:
    container = client.containers.run(example_image, detach=True, ports={"4000/tcp": ("127.0.0.1", None)},
                                      **run_args(certs))
    try:
        container.reload()
        port = container.ports["4000/tcp"][0]["HostPort"]
        status, body = get(f"http://127.0.0.1:{port}/", time.monotonic() + 60)
        assert status == 200 and body.startswith(b"hello")
        _, nodes = get(f"http://127.0.0.1:{port}/nodes", time.monotonic() + 10)
        assert json.loads(nodes)["node"] == "hello@127.0.0.1"
        processes = [p[-1] for p in container.top()["Processes"]]
        assert any(p.startswith("/app/erts-") and "beam.smp" in p for p in processes)
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(("verb", "status"), [("check", 0), ("fail", 3)])
def test_each_verb_exits_with_its_status(client, example_image: str, certs: Path, verb: str,
                                         status: int) -> None:
    container = client.containers.run(example_image, entrypoint=["/app/bin/hello"], command=[verb],
                                      detach=True, **run_args(certs))
    try:
        assert container.wait(timeout=120)["StatusCode"] == status
    finally:
        container.remove(force=True)


@pytest.mark.parametrize("shell", ["/bin/sh", "/bin/bash", "/usr/bin/sh", "/busybox"])
def test_there_is_no_shell(client, example_image: str, shell: str) -> None:
    container = client.containers.create(example_image, entrypoint=[shell], command=["-c", "true"], labels=LABELS)
    try:
        with pytest.raises(docker.errors.APIError, match="no such file or directory"):
            container.start()
    finally:
        container.remove(force=True)


def test_image_config_and_labels(engine, example_image: str, example_config) -> None:
    facts = engine.image_facts(example_image)
    assert facts.user == contract.RUN_USER
    assert facts.entrypoint == ("/app/bin/server",)
    assert facts.labels["io.build-image.otp.version"] == "27.3.4.1"
    assert facts.labels["io.build-image.otp.sha256"] == example_config.otp.source.sha256
    assert facts.labels["io.build-image.elixir.sha256"] == example_config.elixir.sha256
    assert facts.labels["io.build-image.launcher.verbs"] == "check,fail"
    assert facts.labels["org.opencontainers.image.version"] == "0.1.0"


def test_assembling_again_gives_the_same_image_id(engine, example_image: str, example_config) -> None:
    from builder.assemble import assemble
    from builder.build import Progress, build_all, debian_rootfs
    from builder.pipeline import prepare

    progress = Progress(out=sys.stderr)
    plan = prepare(example_config, progress)
    stages = build_all(engine, plan, progress, debian_rootfs(example_config, progress))
    assert all(stage.cached for stage in stages.values())
    before = engine.image_facts(example_image).id
    engine.remove_image(example_image)
    again = assemble(engine, plan, stages)
    assert again.id == before == engine.image_facts(example_image).id


def test_build_command_is_cached_verifies_and_prints_tag_and_id(example_image: str) -> None:
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c",
                           str(REPO / "examples" / "hello" / "build-image.yaml")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hello:latest sha256:")
    # Every step at hand: cached, or skipped when nothing built on it needs building (builder base, Elixir).
    assert "built   build-image/" not in done.stderr
    assert done.stderr.count("      cached  ") + done.stderr.count("      skipped build-image/") == 7, done.stderr
    assert "[8/8] verify" in done.stderr
