"""The local registry the supply-chain tests use is a real one, on the loopback address."""

from __future__ import annotations

import json
import urllib.request

import pytest

pytestmark = pytest.mark.tools("docker-registry")


def test_the_registry_speaks_the_v2_api_on_loopback(registry: str) -> None:
    assert registry.startswith("127.0.0.1:")
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog", timeout=5) as response:
        assert response.headers["Docker-Distribution-API-Version"] == "registry/2.0"
        assert isinstance(json.load(response)["repositories"], list)
