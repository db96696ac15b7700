"""The audit as the image records it and verify shows it; audit.allow in build-image.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder import audit
from builder import config as config_module
from builder.errors import ConfigError
from builder.verify.checks import beam_audit_notes, image_findings
from builder.verify.imagefs import ImageContents, Node
from builder.verify.policy import VerifyPolicy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"
FINDINGS = [
    audit.Finding("kernel", "os", "erlang:open_port/2", "w", "not seen: no debug info", "baseline"),
    audit.Finding("ops", "Elixir.Ops", "os:cmd/1", "runs a shell command", "-", "allowed: the ops console, audited"),
    audit.Finding("web", "Elixir.Web", "Elixir.Code:eval_string/1", "evaluates Elixir code", "-", "violation"),
]


def _contents(recorded: bytes | None) -> ImageContents:
    files = {}
    if recorded is not None:
        files[audit.AUDIT_PATH] = Node(audit.AUDIT_PATH, "file", 0o644, 0, 0, text=recorded.decode())
    return ImageContents(user="65532:65532", entrypoint=(), env=(), files=files, sightings=(), layer_count=1,
                         bytes_read=0)


def test_a_violation_is_a_verify_finding_naming_module_function_and_arity() -> None:
    found = [f for f in image_findings(_contents(audit.to_json(FINDINGS)), VerifyPolicy()) if f.check == "beam-audit"]
    assert [(f.path, f.detail) for f in found] == [
        (audit.AUDIT_PATH, "web: Elixir.Web calls Elixir.Code:eval_string/1 (evaluates Elixir code)")]


def test_allowances_show_their_reason_and_the_baseline_is_summed_up() -> None:
    notes = [n.detail for n in beam_audit_notes(_contents(audit.to_json(FINDINGS)))]
    assert notes[0] == ("allowed   ops: Elixir.Ops calls os:cmd/1 (runs a shell command); "
                        "reason: the ops console, audited")
    assert notes[1].startswith("1 calls of OTP's and Elixir's own modules within the OTP pin's baseline")


def test_an_image_without_a_recorded_audit_says_so() -> None:
    assert "records no BEAM call audit" in beam_audit_notes(_contents(None))[0].detail
    assert not [f for f in image_findings(_contents(None), VerifyPolicy()) if f.check == "beam-audit"]


def test_the_baseline_of_the_example_pin_names_otp_modules_not_the_app() -> None:
    base = audit.baseline("27.3.4.1")
    assert "kernel os:cmd/1" not in base and "group os:cmd/1" in base
    assert not [key for key in base if key.startswith("Elixir.Hello")]


def _config_with(tmp_path: Path, audit_section: str) -> Path:
    text = (EXAMPLE / "build-image.yaml").read_text() + f"app: {EXAMPLE}\n" + audit_section
    path = tmp_path / "build-image.yaml"
    path.write_text(text)
    return path


def test_audit_allow_takes_a_module_a_call_and_a_reason(tmp_path: Path) -> None:
    path = _config_with(tmp_path, "audit:\n  allow:\n    - {module: Elixir.Ops, call: os:cmd/1, "
                                  "reason: the ops console runs uptime}\n")
    assert config_module.load(path).audit_allow == (
        audit.Allowance("Elixir.Ops", "os:cmd/1", "the ops console runs uptime"),)


@pytest.mark.parametrize("item", [
    "{module: Elixir.Ops, call: os:cmd/1}", "{module: Elixir.Ops, call: os:cmd/1, reason: x}",
    "{module: Elixir.Ops, call: os.cmd, reason: a long enough reason}"])
def test_an_allowance_without_a_reason_or_a_call_is_refused(tmp_path: Path, item: str) -> None:
    with pytest.raises(ConfigError, match=r"audit\.allow\[0\]"):
        config_module.load(_config_with(tmp_path, f"audit:\n  allow:\n    - {item}\n"))
