"""The same hand-written images through a real engine: ``docker load``, then its export read back.

The policy itself is tested in memory (test_images.py); these prove that what
Docker exports is read the same way, and that the engine's failures map to
"unreadable" (exit 2).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from _support import directory, layer, symlink
from builder.engine import DockerEngine
from builder.errors import ImageUnreadable
from builder.verify import verify_image
from test_images import POLICY, app_layer, base_layer

pytestmark = [pytest.mark.docker, pytest.mark.tools("gcc")]

LoadImage = Callable[..., str]


def test_a_clean_image_exported_by_docker_verifies_clean(engine: DockerEngine, load_image: LoadImage,
                                                         programs: dict[str, Path]) -> None:
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs)]), POLICY)
    assert report.ok, report.render_text()
    assert {row.path for row in report.elves} == {"/app/bin/server", "/app/bin/migrate", "/usr/lib/libdemo.so"}


def test_a_symlink_escape_loaded_by_docker_is_refused(engine: DockerEngine, load_image: LoadImage,
                                                      programs: dict[str, Path]) -> None:
    evil = layer([directory("app"), symlink("app/evil", "../../../../etc/shadow")])
    image = load_image([base_layer(programs), evil])
    with pytest.raises(ImageUnreadable, match="escapes the root"):
        verify_image(engine, image, POLICY)


def test_a_missing_image_is_unreadable(engine: DockerEngine) -> None:
    with pytest.raises(ImageUnreadable) as raised:
        verify_image(engine, "build-image-verify-test/never-built:latest", POLICY)
    assert raised.value.exit_code == 2
