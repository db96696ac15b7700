"""The rebar3 pin's fetch: Debian's binary package through apt (faked here), or a file checked by its sha256."""

from __future__ import annotations

from pathlib import Path

import pytest

import fakes
from builder import debian, sources
from builder.config import SourcePin
from builder.errors import SourceError

SHOWN = b"Package: rebar3\nVersion: 3.18.0-1\n\nPackage: rebar3\nVersion: 3.19.0-1\nFilename: pool/r/rebar3.deb\n"


@pytest.fixture
def fake_apt(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """apt answered from SHOWN; every .deb holds b"deb"."""
    return fakes.fake_apt(monkeypatch, tmp_path / "cache", SHOWN, lambda _: b"deb")


def test_a_debian_pin_downloads_the_binary_package_through_apt(fake_apt: list[list[str]]) -> None:
    fetched = sources.fetch_rebar3(SourcePin(version="3.19.0", sha256=None, debian_suite="bookworm"),
                                   debian.Mirror(archive="http://archive.invalid/debian"))
    assert fetched.path.name == "rebar3_3.19.0-1_all.deb" and fetched.path.read_bytes() == b"deb"
    assert fetched.origin == "debian:bookworm/rebar3=3.19.0-1"
    assert any(words[0] == "apt-get" and words[-2:] == ["download", "rebar3=3.19.0-1"] for words in fake_apt)
    # The signed index is fetched first, into a private apt state (the host's apt is not touched).
    assert fake_apt[0][0] == "apt-get" and fake_apt[0][-1] == "update"
    assert all(any(w.startswith("Dir::State::Lists=") for w in words) for words in fake_apt)


def test_a_debian_pin_names_the_versions_the_suite_has(fake_apt: list[list[str]]) -> None:
    with pytest.raises(SourceError, match=r"no binary package rebar3 3.22.0 \(it has: 3.18.0-1, 3.19.0-1\)"):
        sources.fetch_rebar3(SourcePin(version="3.22.0", sha256=None, debian_suite="bookworm"),
                             debian.Mirror(archive="http://archive.invalid/debian"))


def test_a_path_pin_is_checked_by_its_sha256(tmp_path: Path) -> None:
    escript = tmp_path / "rebar3"
    escript.write_bytes(b"#!/usr/bin/env escript\n")
    with pytest.raises(SourceError, match=r"rebar3 .*: checksum mismatch"):
        sources.fetch_rebar3(SourcePin(version="3.19.0", sha256="0" * 64, path=escript), None)
    fetched = sources.fetch_rebar3(SourcePin(version="3.19.0", sha256=sources.sha256_of(escript), path=escript), None)
    assert fetched.path == escript and fetched.name == "rebar3"
