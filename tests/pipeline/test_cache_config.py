"""cache: in build-image.yaml names the shared stage cache; the --cache flags override it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from builder import config
from builder.cli import _cache_settings
from builder.errors import ConfigError, UsageError


def write(tmp_path: Path, cache: object) -> Path:
    (tmp_path / "mix.exs").write_text("defmodule X.MixProject do end\n")
    (tmp_path / "cosign.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    path = tmp_path / "build-image.yaml"
    path.write_text(yaml.safe_dump({
        "release": "hello",
        "otp": {"version": "27.3.4.1", "debian": "trixie"},
        "elixir": {"version": "1.18.3", "debian": "trixie"},
        "cache": cache,
    }))
    return path


def flags(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"cache": None, "cache_verify_key": None, "cache_sign_key": None, **given})


def test_the_config_names_the_cache_and_its_keys(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, {"repository": "127.0.0.1:5000/build-image-cache",
                                          "verify_key": "cosign.pub", "sign_key": "env://COSIGN_KEY"}))
    assert loaded.cache is not None
    assert (loaded.cache.repository, loaded.cache.verify_key, loaded.cache.sign_key) == (
        "127.0.0.1:5000/build-image-cache", tmp_path / "cosign.pub", "env://COSIGN_KEY")
    settings = _cache_settings(flags(), loaded)
    assert settings is not None
    assert (str(settings.cache), settings.public_key, settings.signing_key) == (
        "127.0.0.1:5000/build-image-cache", tmp_path / "cosign.pub", "env://COSIGN_KEY")


def test_flags_override_the_config(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, {"repository": "127.0.0.1:5000/a", "verify_key": "cosign.pub"}))
    settings = _cache_settings(flags(cache="127.0.0.1:5001/b", cache_verify_key=tmp_path / "other.pub"), loaded)
    assert settings is not None
    assert (str(settings.cache), settings.public_key, settings.signing_key) == (
        "127.0.0.1:5001/b", tmp_path / "other.pub", None)


def test_without_cache_nothing_is_pulled_or_pushed(tmp_path: Path) -> None:
    path = write(tmp_path, {"repository": "127.0.0.1:5000/a", "verify_key": "cosign.pub"})
    document = yaml.safe_load(path.read_text())
    del document["cache"]
    path.write_text(yaml.safe_dump(document))
    assert _cache_settings(flags(), config.load(path)) is None
    with pytest.raises(UsageError, match="--cache-verify-key"):
        _cache_settings(flags(cache="127.0.0.1:5000/a"), config.load(path))


@pytest.mark.parametrize("cache, expected", [
    ({"repository": "127.0.0.1:5000/a"}, r"cache\.verify_key is required"),
    ({"repository": "no-repository", "verify_key": "cosign.pub"}, r"cache\.repository: 'no-repository'"),
    ({"repository": "127.0.0.1:5000/a", "verify_key": "missing.pub"},
     r"cache\.verify_key: 'missing\.pub' does not exist"),
    ({"repository": "127.0.0.1:5000/a", "verify_key": "cosign.pub", "sign-key": "x"}, r"did you mean 'sign_key'"),
])
def test_a_bad_cache_section_names_the_key(tmp_path: Path, cache: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        config.load(write(tmp_path, cache))
