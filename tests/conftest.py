"""The test tiers, what a run leaves behind, and the session's engine and example images.

Every test belongs to a tier, named by markers (registered in pyproject.toml):

- ``unit``: needs only Python and the package;
- ``tools("gcc", …)``: needs those host programs (``root`` stands for
  running as root, for tests that change file owners);
- ``docker``: needs a Docker engine (and may need tools as well).

A test or module that needs more than Python says so with ``tools(...)`` or
``docker``; :data:`DIRECTORY_TIERS` does it for whole directories; every
other test is marked ``unit`` here, so ``pytest -m unit`` selects exactly
those.  ``unit`` together with another tier is a collection error.

A bare ``pytest`` runs what this machine can and skips the rest, saying
why.  With ``CI=true`` (as ``.ci/run`` sets) nothing is skipped: a test whose
tool or engine is missing fails, with the reason.  A run that used the
engine fails if it left labelled containers, networks or images behind
(see ``hygiene.py``).
"""

from __future__ import annotations

import functools
import io
import os
import shutil
from pathlib import Path

import docker
import pytest

from builder import config as config_module
from builder.build import Progress
from builder.engine import DockerEngine
from builder.errors import EngineUnavailable
from hygiene import leftovers

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
EXAMPLE = REPO / "examples" / "hello"
TIERS = ("unit", "tools", "docker")

# Modules that do not mark themselves, by path under tests/ (the longest match wins).
DIRECTORY_TIERS: dict[str, pytest.MarkDecorator] = {
    "launcher": pytest.mark.tools("make", "gcc"),  # builds the real launcher with its Makefile
    "launcher/test_fuzz.py": pytest.mark.tools("make", "clang-14"),
    "launcher/test_epmd_module.py": pytest.mark.tools("erlc", "erl"),
}

_LEFT_BEHIND = pytest.StashKey[list[str]]()
_USED_ENGINE = pytest.StashKey[bool]()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- tiers ---------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)  # before -m selects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mixed = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if "unit" in tiers and len(tiers) > 1:
            mixed.append(item.nodeid)
        elif not tiers:
            item.add_marker(_directory_tier(item.path) or pytest.mark.unit)
    if mixed:
        raise pytest.UsageError("a unit test needs nothing but Python; these are also marked "
                                "tools(...) or docker:\n" + "".join(f"  {nodeid}\n" for nodeid in mixed))


def _directory_tier(path: Path) -> pytest.MarkDecorator | None:
    relative = path.relative_to(TESTS).as_posix()
    matches = [prefix for prefix in DIRECTORY_TIERS if relative == prefix or relative.startswith(prefix + "/")]
    return DIRECTORY_TIERS[max(matches, key=len)] if matches else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip (or, in CI, fail) a test whose tools or engine this machine lacks."""
    missing = [reason for name in _tools_of(item) if (reason := _tool_missing(name))]
    if item.get_closest_marker("docker") is not None:
        if (reason := _engine_missing()) is not None:
            missing.append(reason)
        item.config.stash[_USED_ENGINE] = True
    if not missing:
        return
    if in_ci():
        pytest.fail(f"CI=true and this test cannot run: {'; '.join(missing)}", pytrace=False)
    pytest.skip("; ".join(missing))


def _tools_of(item: pytest.Item) -> list[str]:
    return sorted({str(name) for mark in item.iter_markers("tools") for name in mark.args})


@functools.cache
def _tool_missing(name: str) -> str | None:
    if name == "root":
        return None if os.geteuid() == 0 else "needs root (it changes file owners)"
    return None if shutil.which(name) else f"{name} is not installed"


@functools.cache
def _engine_missing() -> str | None:
    try:
        DockerEngine.connect()
    except EngineUnavailable as exc:
        return str(exc)
    return None


def pytest_report_header(config: pytest.Config) -> str:
    if in_ci():
        return "tiers: CI=true, so a missing tool or engine fails its tests"
    return "tiers: tests whose tools or engine are missing are skipped (CI=true makes them fail)"


# -- what a run leaves behind -----------------------------------------------------

def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail a run that used the engine and left labelled objects in it."""
    if not session.config.stash.get(_USED_ENGINE, False) or _engine_missing() is not None:
        return
    left = leftovers(docker.from_env(timeout=60))
    session.config.stash[_LEFT_BEHIND] = left
    if left:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    left = config.stash.get(_LEFT_BEHIND, [])
    if left:
        terminalreporter.section("left behind in the engine", sep="=", red=True)
        for line in left:
            terminalreporter.line(f"  {line}")
        terminalreporter.line("every container, network and image a test creates must be removed by it "
                              "(see tests/hygiene.py)")


# -- the engine and the example images ----------------------------------------------

@pytest.fixture(scope="session")
def engine() -> DockerEngine:
    return DockerEngine.connect()


@pytest.fixture(scope="session")
def docker_client(engine: DockerEngine) -> docker.DockerClient:
    """The SDK client, for tests that start containers themselves; ``engine`` fails clearly without a daemon."""
    return docker.from_env(timeout=120)


@pytest.fixture(scope="session")
def example_config() -> config_module.Config:
    return config_module.load(EXAMPLE / "build-image.yaml")


@pytest.fixture(scope="session")
def epmdless_config() -> config_module.Config:
    return config_module.load(EXAMPLE / "build-image.epmdless.yaml")


def _build(config: config_module.Config) -> str:
    from builder.pipeline import build

    log = io.StringIO()
    try:
        return build(config, Progress(out=log), verify=False).image.tag
    except Exception:
        print(log.getvalue())
        raise


@pytest.fixture(scope="session")
def example_image(engine: DockerEngine, example_config: config_module.Config) -> str:
    """The example app's image (TLS required, epmd on), tag as configured."""
    return _build(example_config)


@pytest.fixture(scope="session")
def epmdless_image(engine: DockerEngine, epmdless_config: config_module.Config) -> str:
    """The same app built with ``launcher.epmdless: true``."""
    return _build(epmdless_config)
