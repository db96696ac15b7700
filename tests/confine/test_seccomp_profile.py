"""The generated seccomp profile, read as Docker reads it (no engine needed)."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

import pytest

from builder import cli, seccomp
from builder.certs import write_dist_certs
from builder.errors import ConfigError, UsageError
from builder.run import docker_run_argv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
OBSERVED = frozenset({"read", "write", "clone3", "ptrace", "openat"})


def _rules(profile: dict[str, object]) -> dict[str, list[dict[str, object]]]:
    by_name: dict[str, list[dict[str, object]]] = {}
    for rule in profile["syscalls"]:  # type: ignore[attr-defined]
        for name in rule["names"]:
            by_name.setdefault(name, []).append(rule)
    return by_name


def test_everything_not_listed_is_refused_with_eperm() -> None:
    profile = seccomp.profile(OBSERVED, machine="x86_64")
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO" and profile["defaultErrnoRet"] == seccomp.EPERM
    assert profile["architectures"] == ["SCMP_ARCH_X86_64"]


def test_denied_calls_stay_denied_even_when_observed() -> None:
    rules = _rules(seccomp.profile(OBSERVED, machine="x86_64"))
    assert rules["ptrace"] == rules["mount"]
    assert rules["ptrace"][0]["action"] == "SCMP_ACT_ERRNO" and rules["ptrace"][0]["errnoRet"] == seccomp.EPERM
    for name in seccomp.DENIED:
        assert [rule["action"] for rule in rules[name]] == ["SCMP_ACT_ERRNO"], name


def test_clone3_answers_enosys_so_glibc_falls_back_to_clone() -> None:
    rules = _rules(seccomp.profile(OBSERVED, machine="x86_64"))
    assert rules["clone3"] == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": seccomp.ENOSYS,
                                "comment": "glibc falls back to clone only on ENOSYS"}]
    (clone,) = rules["clone"]
    assert clone["action"] == "SCMP_ACT_ALLOW"
    assert clone["args"] == [{"index": 0, "value": seccomp.CLONE_NAMESPACE_FLAGS, "valueTwo": 0,
                              "op": "SCMP_CMP_MASKED_EQ"}]


def test_the_allowlist_is_the_observed_calls_plus_the_margin() -> None:
    allowed = seccomp.allowed_calls(OBSERVED)
    assert allowed == sorted((OBSERVED | seccomp.MARGIN) - {"ptrace", "clone3"})
    assert not set(allowed) & seccomp.DENIED


def test_the_example_pin_has_a_checked_in_list_within_the_denied_rules() -> None:
    observed = seccomp.observed_calls("27.3.4.1")
    assert {"execve", "futex", "epoll_wait", "accept", "memfd_create"} <= observed
    assert not observed & seccomp.DENIED


def test_a_pin_without_a_list_says_how_to_observe_one() -> None:
    with pytest.raises(ConfigError, match=r"no observed system call list for OTP 1\.2") as refused:
        seccomp.observed_calls("1.2")
    assert "observe_syscalls.py" in (refused.value.hint or "")


def test_the_command_writes_the_same_bytes_every_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert cli.main(["seccomp", "-c", str(EXAMPLE), "-o", str(first)]) == 0
    assert cli.main(["seccomp", "-c", str(EXAMPLE), "-o", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert json.loads(first.read_text())["defaultAction"] == "SCMP_ACT_ERRNO"
    assert capsys.readouterr().out.splitlines() == [str(first), str(second)]


def test_run_passes_the_profile_and_refuses_a_missing_one(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "certs", ["node-1"])
    node = tmp_path / "certs" / "node-1"
    for pem in node.iterdir():
        pem.chmod(0o644)
    profile = tmp_path / "seccomp.json"
    profile.write_text("{}")
    argv = docker_run_argv("hello:1", node, seccomp=profile)
    assert ("--security-opt", f"seccomp={profile}") in list(pairwise(argv))
    with pytest.raises(UsageError, match="does not exist") as refused:
        docker_run_argv("hello:1", node, seccomp=tmp_path / "missing.json")
    assert "build-image seccomp" in (refused.value.hint or "")


def test_socket_opens_only_unix_and_inet_families() -> None:
    profile = seccomp.profile(OBSERVED | {"socket"}, machine="x86_64")
    socket_rules = [rule for rule in profile["syscalls"] if rule["names"] == ["socket"]]
    assert sorted((rule["args"] for rule in socket_rules), key=lambda args: args[0]["value"]) == [
        [{"index": 0, "value": family, "valueTwo": 0, "op": "SCMP_CMP_EQ"}] for family in (1, 2, 10)]
    assert {rule["action"] for rule in socket_rules} == {"SCMP_ACT_ALLOW"}
