"""Git dependencies, an umbrella with Hex dependencies, and a Hex package built by rebar3.

One project, tests/apps/hexumbrella, proves the three in one build (the
session's OTP, Elixir, Hex and fixture repository are reused): an umbrella
whose app depends on ``jason`` (Hex, mix), ``tiny_rebar`` (Hex, metadata
``build_tools: ["rebar3"]``, added to the fixture repository by
``conftest.tiny_rebar``) and ``git_greeter`` (git, a bare repository inside
the project, so the deps stage fetches it with no network beyond the
build context).  The repository and mix.lock are made by the test, so the
commit and the checksums are whatever this machine's git and packer give.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import docker
import pytest
import yaml
from conftest import EXAMPLES, HEXUMBRELLA, BuiltApp, build_with_cli, tiny_rebar

from builder import config as config_module
from builder.build import Progress
from builder.config import load
from builder.gitdeps import git_inputs
from builder.pipeline import prepare
from builder.plan import Plan, make_plan
from builder.render import generated_files
from builder.sources import FetchedSource
from hex_repository import HexRepository
from hygiene import LABELS
from runtime_support import Node, NodeSpec, http_get

GIT_URL = "../../vendor/git_greeter.git"
REV = "0123456789abcdef0123456789abcdef01234567"


def _copy(tmp_path: Path) -> Path:
    app = tmp_path / "hexumbrella"
    shutil.copytree(HEXUMBRELLA, app, ignore=shutil.ignore_patterns("sources", "_build", "deps", ".build-image"))
    return app


def _lock(app: Path, *lines: str) -> None:
    (app / "mix.lock").write_text("%{\n" + "".join(lines) + "}\n")


def _git_line(url: str = GIT_URL, rev: str = REV, name: str = "git_greeter") -> str:
    return f'  "{name}": {{:git, "{url}", "{rev}", []}},\n'


def _bare_repository(path: Path) -> None:
    """Just enough of a bare repository for the planner's check (the build needs a real one)."""
    (path / "objects").mkdir(parents=True)
    (path / "HEAD").write_text("ref: refs/heads/main\n")


def _source(tmp_path: Path, name: str, filename: str) -> FetchedSource:
    path = tmp_path / filename
    path.write_bytes(name.encode())
    return FetchedSource(name=name, version="1", path=path, sha256="0" * 64, origin="test")


def _plan(tmp_path: Path, app: Path) -> Plan:
    raw = yaml.safe_load((app / "build-image.yaml").read_text())
    raw["hex"]["path"] = str(_source(tmp_path, "hex", "hex-2.5.1.tar.gz").path)
    config = config_module.parse({**raw, "release": "hexumbrella"}, app / "build-image.yaml")
    return make_plan(config, _source(tmp_path, "otp", "otp.tar.gz"), _source(tmp_path, "elixir", "elixir.tar.gz"),
                     _source(tmp_path, "hex", "hex-2.5.1.tar.gz"), _source(tmp_path, "rebar3", "rebar3.deb"))


# -- git dependencies in the plan ---------------------------------------------------------



def test_a_local_git_repository_enters_the_deps_stage_after_a_git_stage(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _bare_repository(app / "vendor" / "git_greeter.git")
    _lock(app, _git_line())
    plan = _plan(tmp_path, app)
    assert [s.name for s in plan.stages] == ["runtime", "otp", "elixir", "hex", "rebar3", "git", "deps", "release",
                                             "launcher"]
    assert plan.stage("git").parent == plan.stage("rebar3").image
    assert plan.stage("deps").parent == plan.stage("git").image
    files = dict(plan.stage("deps").files)
    assert "app/vendor/git_greeter.git/HEAD" in files
    variables = dict(plan.stage("deps").variables)
    assert variables["git_rewrites"] == []  # a relative URL needs no rewrite
    assert variables["git_repositories"] == ["vendor/git_greeter.git"]  # its empty refs/ and objects/ remade
    dockerfile = generated_files(plan.stage("deps"))["Dockerfile"].decode()
    assert 'for repository in vendor/git_greeter.git; do mkdir -p "$repository/refs"' in dockerfile


def test_a_vendored_checkout_gets_its_empty_git_directories_back(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _lock(app, _git_line("https://example.invalid/git_greeter.git"))
    checkout = app / "deps" / "git_greeter" / ".git"
    checkout.mkdir(parents=True)
    (checkout / "HEAD").write_text("4200538856786f5088d8992b874afc42e0830640\n")
    plan = _plan(tmp_path, app)
    assert dict(plan.stage("deps").variables)["vendored"] is True
    assert dict(plan.stage("deps").variables)["git_repositories"] == ["deps/git_greeter/.git"]
    assert "app/deps/git_greeter/.git/HEAD" in dict(plan.stage("deps").files)


def test_the_git_stage_is_keyed_on_its_parent_alone(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _bare_repository(app / "vendor" / "git_greeter.git")
    _lock(app, _git_line())
    first = _plan(tmp_path, app)
    _lock(app, _git_line(rev="a" * 40))
    moved = _plan(tmp_path, app)
    assert first.stage("git").image == moved.stage("git").image
    assert first.stage("deps").image != moved.stage("deps").image


def test_without_git_dependencies_there_is_no_git_stage(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _lock(app, tiny_rebar().lock_line())
    assert "git" not in [s.name for s in _plan(tmp_path, app).stages]


def test_an_absolute_or_file_url_inside_the_project_is_rewritten_to_the_stage(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _bare_repository(app / "vendor" / "git_greeter.git")
    root = app.resolve().as_posix()
    _lock(app, _git_line(f"{root}/vendor/git_greeter.git"), _git_line(f"file://{root}/vendor/git_greeter.git",
                                                                      name="other"))
    inputs = git_inputs(app)
    assert inputs.rewrites == (("/build/app/", f"{root}/"), ("file:///build/app/", f"file://{root}/"))
    dockerfile = generated_files(_plan(tmp_path, app).stage("deps"))["Dockerfile"].decode()
    assert f'git config --system url."/build/app/".insteadOf "{root}/"' in dockerfile








def test_a_remote_git_url_adds_git_and_no_files(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _lock(app, _git_line("https://example.invalid/git_greeter.git"))
    plan = _plan(tmp_path, app)
    assert "git" in [s.name for s in plan.stages]
    assert not [path for path, _ in plan.stage("deps").files if "git_greeter" in path]


def test_a_failed_fetch_names_the_remote_git_dependencies(tmp_path: Path) -> None:
    app = _copy(tmp_path)
    _lock(app, _git_line("https://example.invalid/git_greeter.git"))
    dockerfile = generated_files(_plan(tmp_path, app).stage("deps"))["Dockerfile"].decode()
    assert "Git dependencies fetched over the network: git_greeter;" in dockerfile
    _lock(app, tiny_rebar().lock_line())
    assert "fetched over the network" not in generated_files(_plan(tmp_path, app).stage("deps"))["Dockerfile"].decode()




# -- the Hex package built by rebar3 ------------------------------------------------------

def test_the_rebar3_package_is_a_hex_tarball_with_its_checksums() -> None:
    package = tiny_rebar()
    assert package == tiny_rebar(), "the same sources must give the same tarball"
    assert package.lock_line().startswith('  "tiny_rebar": {:hex, :tiny_rebar, "0.1.0", ')
    assert ", [:rebar3], [], \"hexpm\", " in package.lock_line()


# -- one real build of all three ----------------------------------------------------------

def _git(*args: str, cwd: Path) -> str:
    stamp = "2024-01-01T00:00:00Z"
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_AUTHOR_DATE": stamp,
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_COMMITTER_DATE": stamp,
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _project_with_lock(work: Path) -> Path:
    """The umbrella with vendor/git_greeter.git (one commit of sources/git_greeter) and its mix.lock."""
    app = _copy(work)
    source = work / "git_greeter"
    shutil.copytree(HEXUMBRELLA / "sources" / "git_greeter", source)
    _git("init", "-q", "-b", "main", cwd=source)
    _git("add", ".", cwd=source)
    _git("commit", "-q", "-m", "git_greeter 0.1.0", cwd=source)
    (app / "vendor").mkdir()
    _git("clone", "-q", "--bare", str(source), str(app / "vendor" / "git_greeter.git"), cwd=work)
    jason = next(line + "\n" for line in (EXAMPLES / "phoenix" / "mix.lock").read_text().splitlines()
                 if line.startswith('  "jason":'))
    _lock(app, _git_line(rev=_git("rev-parse", "HEAD", cwd=source)), jason, tiny_rebar().lock_line())
    return app


@pytest.fixture(scope="session")
def hexumbrella_config(hex_repository: HexRepository, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's build-image.yaml (pins only) plus the served fixture repository, in a copy of the project."""
    app = _project_with_lock(tmp_path_factory.mktemp("hexumbrella"))
    raw = yaml.safe_load((app / "build-image.yaml").read_text())
    raw["hex"] = {**raw["hex"], "path": str(hex_repository.client), "network": hex_repository.network,
                  "repository": {"url": hex_repository.url, "public_key": str(hex_repository.public_key)}}
    (app / "build-image.yaml").write_text(yaml.safe_dump(raw))
    return app / "build-image.yaml"


@pytest.fixture(scope="session")
def hexumbrella_app(hexumbrella_config: Path) -> BuiltApp:
    """tests/apps/hexumbrella built through ``build-image build`` against the fixture repository."""
    return build_with_cli(hexumbrella_config)


@pytest.mark.docker
@pytest.mark.tools("git")
def test_an_umbrella_with_hex_git_and_rebar3_built_hex_dependencies_builds_and_serves(
        hexumbrella_app: BuiltApp, run_app: Callable[[NodeSpec], Node], apps_ips: dict[str, str],
        apps_certs: Path, apps_cookie: str) -> None:
    log = hexumbrella_app.log
    assert hexumbrella_app.tag == "hexumbrella:latest"
    assert "release hexumbrella (from mix.exs)" in log
    assert "] git: git for 1 git dependencies" in log and "] rebar3: rebar3 3.19.0 (MIX_REBAR3)" in log
    ip = apps_ips["b"]
    node = run_app(NodeSpec(hexumbrella_app.tag, ip, apps_certs / "b", {"RELEASE_COOKIE": apps_cookie, "POD_IP": ip}))
    node.wait_serving()
    reply = http_get(ip, "/deps")
    assert reply is not None and reply.status == 200, f"GET /deps: {reply}"
    # Encoded by jason; the macro that says "built by rebar3" is defined only in tiny_rebar's rebar.config.
    assert json.loads(reply.body) == {"rebar": "tiny_rebar built by rebar3",
                                      "git": "git_greeter from vendor/git_greeter.git"}


@pytest.mark.docker
@pytest.mark.tools("git")
def test_vendored_deps_with_a_git_checkout_build_with_no_network(
        hexumbrella_app: BuiltApp, hexumbrella_config: Path, hex_repository: HexRepository, tmp_path: Path) -> None:
    """deps/ as mix deps.get leaves it (git_greeter's .git checkout included): mix checks it with git, offline."""
    client = docker.from_env()
    fetched = prepare(load(hexumbrella_config), Progress(out=io.StringIO())).stage("deps")
    app = tmp_path / "vendored"
    shutil.copytree(hexumbrella_config.parent, app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    container = client.containers.create(fetched.image, command=["/nonexistent"], labels=LABELS)
    try:
        chunks, _ = container.get_archive("/build/app/deps")
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            archive.extractall(app, filter="data")
    finally:
        container.remove(force=True)
    assert (app / "deps" / "git_greeter" / ".git" / "HEAD").is_file()
    raw = yaml.safe_load((app / "build-image.yaml").read_text())
    raw["hex"] = {key: value for key, value in raw["hex"].items() if key not in ("repository", "network")}
    (app / "build-image.yaml").write_text(yaml.safe_dump({**raw, "tag": "hexumbrella-vendored:test"}))
    try:
        built = build_with_cli(app / "build-image.yaml")
    finally:
        client.images.remove("hexumbrella-vendored:test", force=True)
    assert "] deps: deps/ as vendored, checked against mix.lock" in built.log


@pytest.mark.docker
@pytest.mark.tools("git")
def test_a_git_dependency_the_deps_stage_cannot_reach_fails_naming_it(
        hexumbrella_app: BuiltApp, hexumbrella_config: Path, tmp_path: Path) -> None:
    """Offline (the fixture network reaches no git host), a remote git dependency fails with what to do instead."""
    app = tmp_path / "remote"
    shutil.copytree(hexumbrella_config.parent, app, ignore=shutil.ignore_patterns("_build", "deps", ".build-image"))
    web = app / "apps" / "web" / "mix.exs"
    url = "https://git.invalid/remote_greeter.git"
    dep = f'{{:remote_greeter, git: "{url}"}},'
    web.write_text(web.read_text().replace('{:jason, "~> 1.4"},', '{:jason, "~> 1.4"}, ' + dep))
    lock = (app / "mix.lock").read_text()
    (app / "mix.lock").write_text(lock.replace("%{\n", "%{\n" + _git_line(url, "b" * 40, "remote_greeter"), 1))
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c", str(app / "build-image.yaml"),
                           "--set", "tag=hexumbrella-remote:test"], capture_output=True, text=True, check=False)
    assert done.returncode == 6, done.stderr
    assert "Git dependencies fetched over the network: remote_greeter;" in done.stderr
    assert "serve the repository from inside the project" in done.stderr
