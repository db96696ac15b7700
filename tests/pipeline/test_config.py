"""build-image.yaml validation: every error names the field, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builder import config, contract
from builder.errors import ConfigError

OTP_SHA = "0" * 64


def write(tmp_path: Path, document: dict | str) -> Path:
    (tmp_path / "mix.exs").write_text("defmodule X.MixProject do end\n")
    path = tmp_path / "build-image.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def minimal(**overrides: object) -> dict:
    document = {
        "release": "hello",
        "otp": {"version": "27.3.4.1", "debian": "trixie"},
        "elixir": {"version": "1.18.3", "debian": "trixie"},
    }
    document.update(overrides)
    return document


def error_of(tmp_path: Path, document: dict | str) -> str:
    with pytest.raises(ConfigError) as caught:
        config.load(write(tmp_path, document))
    return str(caught.value)


def test_minimal_config_gets_safe_defaults(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, minimal()))
    assert loaded.tag == "hello:latest"
    assert loaded.app == tmp_path.resolve()
    assert loaded.launcher.dist_port == contract.DEFAULT_DIST_PORT
    assert loaded.launcher.require_tls is True and loaded.launcher.epmdless is False
    assert "-D_FORTIFY_SOURCE=2" in loaded.hardening.cflags
    assert "-Wl,-z,now" in loaded.hardening.ldflags
    assert "common_test" in loaded.otp.without
    assert loaded.otp.source.kind == "debian" and loaded.otp.source.debian_suite == "trixie"
    assert loaded.bases.debian_suite == "bookworm" and loaded.bases.mirror is None


def test_the_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
    loaded = config.load(example)
    assert loaded.launcher.verbs == ("check", "fail")
    assert loaded.verify.verbs == ("check", "fail")


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(lancher={"dist_port": 1}))
    assert "lancher: unknown key" in message and "did you mean 'launcher'" in message


def test_unknown_nested_key_is_named_with_its_path(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(launcher={"dist_prot": 5000}))
    assert "launcher.dist_prot" in message and "dist_port" in message


def test_bad_value_names_field_value_and_allowed(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(launcher={"dist_port": 80}))
    assert "launcher.dist_port" in message and "80" in message and "1024 to 65535" in message


def test_url_source_requires_sha256(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(otp={"version": "27.3.4.1", "url": "https://example.invalid/otp.tgz"}))
    assert "otp.sha256" in message and "required" in message


def test_exactly_one_source_kind(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(elixir={"version": "1.18.3", "debian": "trixie",
                                                  "url": "https://x.invalid/e.tgz", "sha256": OTP_SHA}))
    assert "exactly one of url, path or debian" in message


def test_sha256_must_be_hex(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(otp={"version": "27.3.4.1", "debian": "trixie", "sha256": "abc"}))
    assert "otp.sha256" in message and "'abc'" in message


def test_cflags_need_an_optimisation_level(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(hardening={"cflags": ["-fPIE"]}))
    assert "hardening.cflags" in message and "-O" in message


def test_nodlopen_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(hardening={"ldflags": ["-Wl,-z,now", "-Wl,-z,nodlopen"]}))
    assert "nodlopen" in message


def test_bad_verb_is_a_config_error_naming_it(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(launcher={"tasks": {"eval": "IO.puts(1)"}}))
    assert "eval" in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(minimal()) + "release: other\n"
    assert "duplicate key 'release'" in error_of(tmp_path, text)


def test_missing_app_directory_is_explained(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(app="nowhere"))
    assert "app" in message and "mix.exs" in message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        config.load(tmp_path / "absent.yaml")
    assert "not valid YAML" in error_of(tmp_path, "release: [unclosed\n")


def test_waiver_needs_a_reason(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(verify={"waivers": [{"path": "/usr/lib/x.so", "reason": "x"}]}))
    assert "verify.waivers[0].reason" in message


def test_unknown_verify_property_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(verify={"require": ["pie", "pei"]}))
    assert "verify.require[1]" in message and "'pei'" in message


def test_config_objects_are_frozen(tmp_path: Path) -> None:
    loaded = config.load(write(tmp_path, minimal()))
    with pytest.raises(AttributeError):
        loaded.release = "other"  # type: ignore[misc]


def test_release_name_cannot_be_a_launcher_command(tmp_path: Path) -> None:
    message = error_of(tmp_path, minimal(release="check", launcher={"tasks": {"check": "A.b()"}}))
    assert "release: 'check' is not allowed" in message
