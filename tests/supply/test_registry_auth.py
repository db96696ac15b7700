"""Registries that need a login: credentials from Docker's config or an auth file, never from build-image.yaml.

A real ``docker-registry`` with htpasswd (Basic) auth; a small token service
stands in for the Bearer protocol (Docker Hub, GHCR, Harbor), which Debian's
registry only speaks with a JWT-signing auth server of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from builder import oci
from builder import registry as registry_module
from builder.credentials import docker_config_for, find_credentials
from builder.errors import RegistryError, UsageError
from builder.registry import Reference, Registry, push
from builder.stage_cache import CachedEngine, _write_save_archive
from cosign_keys import COSIGN_PASSWORD
from fakes import FakeEngine
from local_registry import LOGIN

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.tools("docker-registry", "htpasswd")


def docker_config(directory: Path, registry: str, user: str, password: str) -> Path:
    """A ``docker login``-style config.json in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (directory / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return directory / "config.json"


@pytest.fixture(autouse=True)
def no_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no login anywhere (not the machine's own) and no remembered token."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    registry_module._AUTHORIZED.clear()
    yield
    registry_module._AUTHORIZED.clear()


def small_image() -> oci.OciImage:
    layer = b"\0" * 1024
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    return oci.from_layers(config.encode(), [layer])


def test_without_a_login_the_error_names_the_registry_and_where_logins_are_read(auth_registry: str) -> None:
    with pytest.raises(RegistryError) as raised:
        push(small_image(), Reference.parse(f"{auth_registry}/app:1"))
    assert f"{auth_registry} requires a login" in str(raised.value)
    assert "docker login" in (raised.value.hint or "") and "--authfile" in (raised.value.hint or "")
    assert raised.value.exit_code == 9


def test_a_wrong_password_is_refused_naming_the_user_and_the_file(auth_registry: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = docker_config(tmp_path / "docker", auth_registry, LOGIN[0], "wrong")
    monkeypatch.setenv("DOCKER_CONFIG", str(config.parent))
    with pytest.raises(RegistryError, match=f"{auth_registry} refused the login of '{LOGIN[0]}' from {config}"):
        push(small_image(), Reference.parse(f"{auth_registry}/app:1"))


def test_the_docker_config_login_pushes_and_reads(auth_registry: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", auth_registry, *LOGIN).parent))
    image = small_image()
    assert push(image, Reference.parse(f"{auth_registry}/app:1")) == image.digest
    assert Registry(Reference.parse(f"{auth_registry}/app")).find_manifest(image.digest) == image.manifest.data


def test_an_auth_file_wins_over_the_docker_config(auth_registry: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", auth_registry, "x", "y").parent))
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(docker_config(tmp_path / "skopeo", auth_registry, *LOGIN)))
    image = small_image()
    assert push(image, Reference.parse(f"{auth_registry}/app:2")) == image.digest


def test_a_named_auth_file_that_does_not_exist_is_a_usage_error(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "typo.json"))
    with pytest.raises(UsageError, match=r"typo\.json does not exist"):
        find_credentials("registry.example")


def test_a_credential_helper_is_asked(auth_registry: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text("#!/bin/sh\nread server\n"
                      f'[ "$server" = "{auth_registry}" ] || {{ echo "credentials not found"; exit 1; }}\n'
                      f"echo '{{\"Username\": \"{LOGIN[0]}\", \"Secret\": \"{LOGIN[1]}\"}}'\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_text(json.dumps({"credsStore": "fake"}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    assert find_credentials("elsewhere.example") is None
    image = small_image()
    assert push(image, Reference.parse(f"{auth_registry}/app:3")) == image.digest


def test_cosign_gets_only_that_registry_login_in_a_private_config(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(docker_config(tmp_path / "skopeo", "reg.example:5000", *LOGIN)))
    with docker_config_for("reg.example:5000") as env:
        private = Path(env["DOCKER_CONFIG"]) / "config.json"
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
        auths = json.loads(private.read_text())["auths"]
        assert list(auths) == ["reg.example:5000"]
    assert not private.exists()


@pytest.mark.tools("cosign")
def test_the_stage_cache_signs_and_pulls_through_a_login(auth_registry: str, keys: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(docker_config(tmp_path / "skopeo", auth_registry, *LOGIN)))
    monkeypatch.setenv("COSIGN_PASSWORD", COSIGN_PASSWORD)
    source, target = FakeEngine(), FakeEngine()
    image = small_image()
    archive = tmp_path / "stage.tar"
    layer_file = tmp_path / "layer.tar"
    layer_file.write_bytes(b"\0" * 1024)
    diff_ids = json.loads(image.config.data)["rootfs"]["diff_ids"]
    _write_save_archive(archive, "build-image/otp:k1", image.config.data, diff_ids, {diff_ids[0]: layer_file})
    source.load_image(archive)
    cache = Reference.parse(f"{auth_registry}/stage-cache")
    filler = CachedEngine(source, cache, keys["signer"] / "cosign.pub", str(keys["signer"] / "cosign.key"),
                          lambda line: None)
    assert filler.obtainable("build-image/otp:k1")  # pushed and signed (cosign logged in)
    said: list[str] = []
    reader = CachedEngine(target, cache, keys["signer"] / "cosign.pub", None, said.append)
    assert reader.image_facts("build-image/otp:k1") is not None
    assert "signature verified" in said[0]


class _TokenRegistry(BaseHTTPRequestHandler):
    """A registry answering with a Bearer challenge, and its token service (the distribution token protocol)."""

    seen: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization", "")
        self.seen.append((self.path, authorization))
        basic = "Basic " + base64.b64encode(":".join(LOGIN).encode()).decode()
        if self.path.startswith("/token?"):
            good = authorization == basic and "scope=repository%3Aapp%3Apull" in self.path
            self._answer(200 if good else 401, json.dumps({"token": "t0ken"}).encode() if good else b"{}")
        elif authorization == "Bearer t0ken":
            self._answer(200, b"manifest")
        else:
            host = self.headers["Host"]
            self._answer(401, b"{}", {"WWW-Authenticate": f'Bearer realm="http://{host}/token",service="test",'
                                                          'scope="repository:app:pull"'})

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_bearer_challenge_is_answered_with_a_token_from_its_realm(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenRegistry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("DOCKER_CONFIG", str(docker_config(tmp_path / "docker", address, *LOGIN).parent))
        repository = Registry(Reference.parse(f"{address}/app"))
        assert repository.find_manifest("latest") == b"manifest"
        assert repository.find_manifest("latest") == b"manifest"  # the token is reused: no second challenge
    finally:
        server.shutdown()
    paths = [path for path, _ in _TokenRegistry.seen]
    assert paths.count("/v2/app/manifests/latest") == 3 and sum(p.startswith("/token?") for p in paths) == 1


@pytest.mark.docker
@pytest.mark.tools("cosign")
def test_push_sign_and_verify_the_example_with_an_authfile(auth_registry: str, keys: dict[str, Path],
                                                           example_image: str, tmp_path: Path) -> None:
    """The CLI end to end: --authfile for build-image, the same login in DOCKER_CONFIG for cosign's own check."""
    authfile = docker_config(tmp_path / "skopeo", auth_registry, *LOGIN)
    ref = f"{auth_registry}/hello:latest"
    env = {**os.environ, "COSIGN_PASSWORD": COSIGN_PASSWORD}
    config = str(REPO / "examples" / "hello" / "build-image.yaml")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "builder", *args], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=600, check=False)

    refused = cli("push", ref, "-c", config)
    assert refused.returncode == 9 and f"{auth_registry} requires a login" in refused.stderr
    pushed = cli("push", ref, "-c", config, "--authfile", str(authfile))
    assert pushed.returncode == 0, pushed.stderr
    signed = cli("sign", ref, "--key", str(keys["signer"] / "cosign.key"), "-c", config, "--authfile", str(authfile))
    assert signed.returncode == 0, signed.stderr
    verified = cli("verify", "--signed-by", str(keys["signer"] / "cosign.pub"), ref, "--authfile", str(authfile))
    assert verified.returncode == 0, verified.stderr
    cosign = subprocess.run(["cosign", "verify", "--key", str(keys["signer"] / "cosign.pub"),
                             "--insecure-ignore-tlog=true", ref], capture_output=True, text=True, check=False,
                            env={**env, "DOCKER_CONFIG": str(authfile.parent)})
    assert cosign.returncode == 0, cosign.stderr
