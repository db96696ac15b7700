"""Session fixtures: the real engine and the example images, built once.

The images are built by the real pipeline (sources, stages, assembly) on
the real Docker engine.  When no engine answers, the tests that need one
fail with that reason: they never skip.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from builder import config as config_module
from builder.build import Progress
from builder.engine import DockerEngine
from builder.pipeline import build

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hello"


@pytest.fixture(scope="session")
def engine() -> DockerEngine:
    return DockerEngine.connect()


@pytest.fixture(scope="session")
def example_config() -> config_module.Config:
    return config_module.load(EXAMPLE / "build-image.yaml")


@pytest.fixture(scope="session")
def epmdless_config() -> config_module.Config:
    return config_module.load(EXAMPLE / "build-image.epmdless.yaml")


def _build(config: config_module.Config) -> str:
    log = io.StringIO()
    try:
        build(config, Progress(out=log), verify=False)
    except Exception:
        print(log.getvalue())
        raise
    return config.tag


@pytest.fixture(scope="session")
def example_image(engine: DockerEngine, example_config: config_module.Config) -> str:
    """The example app's image (TLS required, epmd on), tag as configured."""
    return _build(example_config)


@pytest.fixture(scope="session")
def epmdless_image(engine: DockerEngine, epmdless_config: config_module.Config) -> str:
    """The same app built with ``launcher.epmdless: true``."""
    return _build(epmdless_config)
