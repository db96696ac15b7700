"""Reading the host's apt sources and Debian version strings."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import debian
from builder.errors import SourceError


def use_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, one_line: str = "",
                deb822: str = "") -> None:
    parts = tmp_path / "sources.list.d"
    parts.mkdir()
    (tmp_path / "sources.list").write_text(one_line)
    if deb822:
        (parts / "debian.sources").write_text(deb822)
    monkeypatch.setattr(debian, "APT_SOURCES", tmp_path / "sources.list")
    monkeypatch.setattr(debian, "APT_SOURCE_PARTS", parts)


def test_mirror_from_deb822_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_sources(monkeypatch, tmp_path, deb822=(
        "Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.test/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n"))
    mirror = debian.host_mirror()
    assert mirror == debian.Mirror("http://mirror.test/debian", "http://mirror.test/debian-security")
    assert mirror.lines("trixie") == (
        "deb http://mirror.test/debian trixie main",
        "deb http://mirror.test/debian trixie-updates main",
        "deb http://mirror.test/debian-security trixie-security main",
    )
    assert mirror.lines("sid", kind="deb-src") == ("deb-src http://mirror.test/debian sid main",)


def test_mirror_from_one_line_sources_ignores_other_archives(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    use_sources(monkeypatch, tmp_path, one_line=(
        "deb https://packages.vendor.test/apt stable main\n"
        "# deb http://commented.test/debian bookworm main\n"
        "deb [arch=amd64] http://local.test/debian/ bookworm main\n"))
    assert debian.host_mirror() == debian.Mirror("http://local.test/debian", None)


def test_no_mirror_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use_sources(monkeypatch, tmp_path)
    with pytest.raises(SourceError, match="no Debian mirror"):
        debian.host_mirror()
    assert debian.host_mirror("http://given.test/debian").archive == "http://given.test/debian"


@pytest.mark.parametrize(("version", "upstream"), [
    ("1:27.3.4.1+dfsg-1+deb13u4", "27.3.4.1"),
    ("1.18.3.dfsg-1", "1.18.3"),
    ("1:25.2.3+dfsg-1", "25.2.3"),
    ("1.14.0.dfsg-2", "1.14.0"),
    ("29.1.2-1", "29.1.2"),
])
def test_upstream_version_of_debian_versions(version: str, upstream: str) -> None:
    assert debian.upstream_of(version) == upstream
