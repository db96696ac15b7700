"""The example image records its BEAM call audit: clean apart from OTP's baseline."""

from __future__ import annotations

import json

import docker
import pytest

from builder import audit
from builder.engine import DockerEngine
from builder.verify import verify_image
from builder.verify.policy import VerifyPolicy
from runtime_support import image_file

pytestmark = pytest.mark.docker


def test_the_example_release_has_no_finding_outside_the_baseline(docker_client: docker.DockerClient,
                                                                 example_image: str) -> None:
    recorded = json.loads(image_file(docker_client, example_image, audit.AUDIT_PATH))["findings"]
    verdicts = {item["verdict"] for item in recorded}
    assert verdicts == {"baseline"}, [item for item in recorded if item["verdict"] != "baseline"]
    assert not [item for item in recorded if item["app"] == "hello"]
    assert {"kernel", "stdlib", "elixir"} <= {item["app"] for item in recorded}


def test_verify_shows_the_audit(engine: DockerEngine, example_image: str) -> None:
    report = verify_image(engine, example_image, VerifyPolicy())
    notes = [note.detail for note in report.notes if note.topic == "beam audit"]
    assert len(notes) == 1 and "within the OTP pin's baseline" in notes[0] and "0 other findings" in notes[0]
    assert not [v for v in report.violations if v.check == "beam-audit"]
