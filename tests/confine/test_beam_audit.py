"""The BEAM call audit on small modules compiled here, with and without each denied call.

Each module is compiled by the host's erlc (or elixirc) twice: with debug
info, as ``mix compile`` leaves it in ``_build``, and stripped, as the
release ships it.  The import table finds the call either way; the
argument that decides open_port's danger is seen only with debug info.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from builder import audit

pytestmark = pytest.mark.tools("erlc", "erl")

#: One Erlang body per denied call, and what the finding names.
CALLS = {
    "os_cmd": ('os:cmd("ls")', "os:cmd/1"),
    "open_port_spawn": ('open_port({spawn, "ls"}, [])', "erlang:open_port/2"),
    "load_binary": ("code:load_binary(m, \"m.beam\", <<>>)", "code:load_binary/3"),
    "load_nif": ('erlang:load_nif("/tmp/evil", 0)', "erlang:load_nif/2"),
    "file_eval": ('file:eval("x")', "file:eval/1"),
    "file_script": ('file:script("x")', "file:script/1"),
    "erl_eval": ("erl_eval:exprs([], [])", "erl_eval:exprs/2"),
    "net_kernel_allow": ("net_kernel:allow(['a@b'])", "net_kernel:allow/1"),
    "set_cookie": ("erlang:set_cookie(node(), c)", "erlang:set_cookie/2"),
    "heart": ('heart:set_cmd("reboot")', "heart:set_cmd/1"),
}
#: Calls whose danger an argument decides: the stripped module cannot show it.
ARGUMENT_DECIDED = {"open_port_spawn", "load_nif"}


def _compile(directory: Path, name: str, body: str, *, debug_info: bool) -> bytes:
    source = directory / f"{name}.erl"
    source.write_text(f"-module({name}).\n-export([f/1]).\nf(X) -> _ = X, {body}.\n")
    flags = ["+debug_info"] if debug_info else []
    subprocess.run(["erlc", *flags, "-o", str(directory), str(source)], check=True, capture_output=True)
    return (directory / f"{name}.beam").read_bytes()


def _strip(beam: bytes, directory: Path) -> bytes:
    path = directory / "stripped.beam"
    path.write_bytes(beam)
    subprocess.run(["erl", "-noshell", "-eval", f'{{ok, _}} = beam_lib:strip("{path}"), halt().'], check=True)
    return path.read_bytes()


def _findings(name: str, beam: bytes, unstripped: bytes | None = None) -> list[audit.Finding]:
    sources = {name: unstripped} if unstripped is not None else None
    return audit.audit([(f"/release/lib/app-1.0.0/ebin/{name}.beam", beam)], sources)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_denied_call_is_found_in_a_stripped_module(tmp_path: Path, name: str) -> None:
    body, target = CALLS[name]
    stripped = _strip(_compile(tmp_path, name, body, debug_info=True), tmp_path)
    (finding,) = _findings(name, stripped)
    assert (finding.app, finding.module, finding.target) == ("app", name, target)
    assert finding.argument == ("not seen: no debug info" if name in ARGUMENT_DECIDED else "-")


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_same_module_without_the_call_is_clean(tmp_path: Path, name: str) -> None:
    assert _findings(name, _compile(tmp_path, name, "lists:reverse([X])", debug_info=True)) == []


def test_open_port_shows_a_literal_spawn_from_the_unstripped_copy(tmp_path: Path) -> None:
    unstripped = _compile(tmp_path, "p", 'open_port({spawn_executable, "/bin/x"}, [])', debug_info=True)
    (finding,) = _findings("p", _strip(unstripped, tmp_path), unstripped)
    assert finding.argument == 'literal {spawn_executable,"/bin/x"}'


def test_open_port_with_a_computed_argument_says_so(tmp_path: Path) -> None:
    (finding,) = _findings("p", _compile(tmp_path, "p", "open_port(X, [])", debug_info=True))
    assert finding.argument == "computed at run time"


def test_open_port_on_a_file_descriptor_is_no_finding(tmp_path: Path) -> None:
    assert _findings("p", _compile(tmp_path, "p", "open_port({fd, 0, 1}, [])", debug_info=True)) == []


def test_without_debug_info_the_argument_is_not_seen(tmp_path: Path) -> None:
    (finding,) = _findings("p", _compile(tmp_path, "p", 'open_port({fd, 0, 1}, [])', debug_info=False))
    assert finding.argument == "not seen: no debug info"


@pytest.mark.tools("elixirc")
def test_elixir_calls_and_a_literal_port_open(tmp_path: Path) -> None:
    source = tmp_path / "e.ex"
    source.write_text('defmodule E do\n  def a, do: Port.open({:spawn, "ls"}, [])\n'
                      '  def b(s), do: Code.eval_string(s)\n  def c, do: System.cmd("ls", [])\nend\n')
    subprocess.run(["elixirc", "-o", str(tmp_path), str(source)], check=True, capture_output=True)
    findings = _findings("Elixir.E", (tmp_path / "Elixir.E.beam").read_bytes())
    assert [(f.target, f.argument) for f in findings] == [
        ("Elixir.Code:eval_string/1", "-"), ("Elixir.System:cmd/2", "-"),
        ("erlang:open_port/2", 'literal {spawn,"ls"}')]


def test_verdicts_baseline_allowed_and_violation() -> None:
    findings = [audit.Finding("kernel", "os", "os:cmd/1", "w", "-"), audit.Finding("app", "m", "os:cmd/1", "w", "-"),
                audit.Finding("app", "n", "os:cmd/1", "w", "-")]
    judged = audit.judge(findings, frozenset({"os os:cmd/1"}), [audit.Allowance("m", "os:cmd/1", "ops tool")])
    assert [f.verdict for f in judged] == ["baseline", "allowed: ops tool", "violation"]
    assert "reason: ops tool" in audit.render(judged)


def test_built_in_package_allowances_hold_for_that_package_alone() -> None:
    """Phoenix's development-only System.cmd calls are allowed for Phoenix's own
    module; the same module name in another application is still a violation."""
    packages = audit.package_allowances()
    watcher = ("Elixir.Phoenix.Endpoint.Watcher", "Elixir.System:cmd/3")
    findings = [audit.Finding("phoenix", *watcher, "w", "-"), audit.Finding("my_app", *watcher, "w", "-"),
                audit.Finding("phoenix", "Elixir.Phoenix.Endpoint.Watcher", "os:cmd/1", "w", "-")]
    judged = audit.judge(findings, frozenset(), [], packages)
    assert judged[0].verdict.startswith("allowed: built in for the Hex package phoenix: runs the endpoint's :watchers")
    assert [f.verdict for f in judged[1:]] == ["violation", "violation"]
    assert all(reason.strip() for reason in packages.values())


def test_debug_info_the_reader_cannot_decode_leaves_the_call_reported(tmp_path: Path) -> None:
    beam = bytearray(_compile(tmp_path, "p", "open_port(X, [])", debug_info=True))
    at = beam.index(b"Dbgi") + 8
    beam[at + 1] = ord("Q")  # an external-term tag the decoder does not know
    (finding,) = _findings("p", bytes(beam))
    assert (finding.target, finding.argument) == ("erlang:open_port/2", "not seen: no debug info")
