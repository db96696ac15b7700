"""The local registry the supply-chain tests use is real and starts empty."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.tools("docker-registry")


def test_the_registry_speaks_the_v2_api_and_starts_empty(registry: str) -> None:
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog", timeout=5) as response:
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert json.load(response) == {"repositories": []}
