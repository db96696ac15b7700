"""``--set KEY=VALUE``: a pin tried without editing the file, validated like it, recorded in the labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import config as config_module
from builder import records
from builder.cli import main
from builder.errors import ConfigError
from builder.plan import make_plan
from builder.sources import FetchedSource

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
NEW_SUM = "b" * 64


def _sources(config: config_module.Config, tmp_path: Path) -> tuple[FetchedSource, FetchedSource]:
    """Stand-ins for the fetched tarballs, carrying the config's versions and sums (no download)."""
    made = []
    for name, pin in (("otp", config.otp.source), ("elixir", config.elixir)):
        path = tmp_path / f"{name}-{pin.version}.tar.xz"
        path.write_bytes(name.encode())
        made.append(FetchedSource(name, pin.version, path, pin.sha256 or "", "test"))
    return made[0], made[1]


def test_an_override_moves_the_otp_stage_key_and_is_recorded(tmp_path: Path) -> None:
    items = ("otp.version=27.3.4.3", f"otp.sha256={NEW_SUM}")
    base = config_module.load(EXAMPLE)
    tried = config_module.load(EXAMPLE, items)

    assert (tried.otp.source.version, tried.otp.source.sha256) == ("27.3.4.3", NEW_SUM)
    assert tried.otp.source.debian_suite == base.otp.source.debian_suite
    assert tried.overrides == items and base.overrides == ()
    before, after = (make_plan(c, *_sources(c, tmp_path)) for c in (base, tried))
    assert before.stage("otp").image != after.stage("otp").image
    assert before.stage("runtime").image == after.stage("runtime").image
    assert records.build_labels(after)[records.OVERRIDES] == " ".join(items)
    assert records.build_labels(before)[records.OVERRIDES] == ""


def test_a_version_like_1_20_stays_text_and_other_values_are_yaml() -> None:
    config = config_module.load(EXAMPLE, ("elixir.version=1.20", "launcher.dist_port=4370",
                                          'launcher.vm_flags=["+S 2:2"]'))
    assert config.elixir.version == "1.20"
    assert config.launcher.dist_port == 4370 and config.launcher.vm_flags == ("+S", "2:2")


@pytest.mark.parametrize(("item", "message"), [
    ("otp.verson=27.3.4.3", "otp.verson: unknown key (did you mean 'version'?) (set by --set otp.verson=27.3.4.3)"),
    ("otp.version=latest", "otp.version: 'latest' is not allowed; expected a release version such as 27.3.4.1 "
                           "(set by --set otp.version=latest)"),
    ("otp.url=https://example.invalid/otp.tar.gz", "exactly one of url, path or debian"),
    ("release.name=x", "release is not a mapping, so it has no key name"),
    ("otp.version", "expected KEY=VALUE"),
])
def test_an_override_is_validated_like_the_file(item: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        config_module.load(EXAMPLE, (item,))
    assert message in str(refused.value)


def test_pins_shows_the_overridden_pin(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pins", "-c", str(EXAMPLE), "--set", "otp.version=27.3.4.3", "--set", f"otp.sha256={NEW_SUM}"]) == 0
    out = capsys.readouterr().out
    assert "otp     27.3.4.3   debian trixie" in out and NEW_SUM in out
    assert main(["render", "-c", str(EXAMPLE), "--set", "otp.verson=1"]) == 3
    assert "did you mean 'version'?" in capsys.readouterr().err
