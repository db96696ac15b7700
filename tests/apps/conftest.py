"""Real projects built as they are, each image once per session, run under least privilege.

The projects under tests/apps/ are what a newcomer brings: a plain app with
no ``releases:`` and no ``:ssl``, an umbrella with two releases (one with
``include_erts: false``).  Each is built through ``build-image build`` (the
real CLI, the real pipeline, verification included) the first time a test
asks for it.  Containers run on a private network with the runtime tests'
hardening (read-only, no capabilities, uid 65532) and are removed afterwards.
"""

from __future__ import annotations

import io
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import yaml

from builder import contract
from builder.certs import write_dist_certs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "runtime"))

from hex_repository import (
    HEX_VERSION,
    HexPackage,
    HexRepository,
    build_repository,
    fixtures_or_skip,
    hex_tarball,
    serve,
)
from runtime_support import (
    Node,
    NodeSpec,
    PrivateNetwork,
    private_network,
    started_containers,
)

APPS = Path(__file__).resolve().parent
NODES = ("a", "b", "c", "d")


@dataclass(frozen=True)
class BuiltApp:
    """An image built by ``build-image build`` and what the command printed."""

    tag: str
    log: str


def build_with_cli(config: Path, *extra: str) -> BuiltApp:
    """``build-image build -c CONFIG`` as a user runs it; fails the test with the whole output when it fails."""
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c", str(config), *extra],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"build-image build -c {config} exited {done.returncode}:\n{done.stderr}{done.stdout}"
    tag, _image_id = done.stdout.split()[-2:]
    return BuiltApp(tag=tag, log=done.stderr)


@pytest.fixture(scope="session")
def plain_app() -> BuiltApp:
    """tests/apps/plainapp: no release: in its build-image.yaml, none in mix.exs, no :ssl."""
    return build_with_cli(APPS / "plainapp" / "build-image.yaml")


@pytest.fixture(scope="session")
def umbrella_back() -> BuiltApp:
    """tests/apps/umbrella's release ``back`` (include_erts: false, no executables), named in the config."""
    return build_with_cli(APPS / "umbrella" / "build-image.yaml")


@pytest.fixture(scope="session")
def apps_network(docker_client: docker.DockerClient) -> Iterator[PrivateNetwork]:
    with private_network(docker_client) as network:
        yield network


@pytest.fixture(scope="session")
def apps_ips(apps_network: PrivateNetwork) -> dict[str, str]:
    return {name: apps_network.allocate() for name in NODES}


@pytest.fixture(scope="session")
def apps_certs(tmp_path_factory: pytest.TempPathFactory, apps_ips: dict[str, str]) -> Path:
    root = tmp_path_factory.mktemp("apps-certs") / "cluster"
    write_dist_certs(root, [f"{name}={ip}" for name, ip in apps_ips.items()],
                     owner=(contract.RUN_UID, contract.RUN_GID))
    return root


@pytest.fixture(scope="session")
def apps_cookie() -> str:
    return secrets.token_urlsafe(32)


@pytest.fixture
def run_app(docker_client: docker.DockerClient, apps_network: PrivateNetwork) -> Iterator[Callable[[NodeSpec], Node]]:
    """Start containers for one test (least privilege, see runtime_support.start); all removed afterwards."""
    with started_containers(docker_client, apps_network) as run:
        yield run


# -- Hex: the fixture repository and examples/phoenix ---------------------------------

EXAMPLES = APPS.parent.parent / "examples"
HEXUMBRELLA = APPS / "hexumbrella"


def tiny_rebar() -> HexPackage:
    """tests/apps/hexumbrella/sources/tiny_rebar as a Hex package whose metadata says it builds with rebar3."""
    return hex_tarball(HEXUMBRELLA / "sources" / "tiny_rebar", "tiny_rebar", "0.1.0", ("rebar3",))


@pytest.fixture(scope="session")
def elixir_image(docker_client: docker.DockerClient) -> str:
    """The Elixir stage of the example's pins (built if missing, normally cached)."""
    from builder.build import Progress, build_stages, debian_rootfs
    from builder.config import load
    from builder.engine import DockerEngine
    from builder.pipeline import prepare

    config = load(EXAMPLES / "hello" / "build-image.yaml")
    progress = Progress(out=io.StringIO())
    plan = prepare(config, progress)
    build_stages(DockerEngine.connect(), plan.base, (plan.stage("otp"), plan.stage("elixir")), {"elixir"}, progress,
                 debian_rootfs(config, progress))
    return plan.stage("elixir").image


@pytest.fixture(scope="session")
def hex_repository(docker_client: docker.DockerClient, elixir_image: str, apps_network: PrivateNetwork,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[HexRepository]:
    """The fixture packages (and tiny_rebar) as a signed Hex repository, served on the private network."""
    fixtures = fixtures_or_skip()
    package = tiny_rebar()
    public = build_repository(docker_client, elixir_image, fixtures, tmp_path_factory.mktemp("hex-repository"),
                              extra={f"{package.name}-{package.version}.tar": package.tarball})
    url, container = serve(docker_client, elixir_image, apps_network, public)
    try:
        yield HexRepository(url=url, public_key=public / "public_key", network=apps_network.name,
                            client=fixtures / f"hex-{HEX_VERSION}.tar.gz")
    finally:
        docker_client.containers.get(container).remove(force=True)


def phoenix_config(repository: HexRepository, directory: Path, app: Path = EXAMPLES / "phoenix") -> Path:
    """examples/phoenix/build-image.yaml plus where its packages come from: the served fixture repository."""
    raw = yaml.safe_load((EXAMPLES / "phoenix" / "build-image.yaml").read_text())
    raw["app"] = str(app)
    raw["hex"] = {**raw["hex"], "path": str(repository.client), "network": repository.network,
                  "repository": {"url": repository.url, "public_key": str(repository.public_key)}}
    path = directory / "build-image.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="session")
def phoenix_app(hex_repository: HexRepository, tmp_path_factory: pytest.TempPathFactory) -> BuiltApp:
    """examples/phoenix built through ``build-image build`` against the fixture repository."""
    return build_with_cli(phoenix_config(hex_repository, tmp_path_factory.mktemp("phoenix")))
