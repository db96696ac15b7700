"""Fixtures of the supply-chain tests: a real registry, started and stopped here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from local_registry import local_registry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a fresh registry with a throwaway storage directory."""
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address
