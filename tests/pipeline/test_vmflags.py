"""VM flags are decided at build time: launcher.vm_flags and vm.args against one allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from builder import config
from builder.errors import ConfigError
from builder.verify import Waiver
from builder.vmflags import ALLOWED, check_words, vm_args_problems, vm_args_words

# What issue 8 names, each as a line an attacker (or a careless vm.args.eex) would write.
REFUSED_LINES = {
    "-proto_dist inet_tcp": "-proto_dist",
    "-setcookie secret": "-setcookie",
    "-cookie secret": "-cookie",
    "-eval 'os:cmd(\"id\")'": "-eval",
    "-s os cmd": "-s",
    "-run init stop": "-run",
    "-remsh other@host": "-remsh",
    "-env ERL_LIBS /tmp": "-env ERL_LIBS",
    "-args_file /tmp/more.args": "-args_file",
    "-kernel inet_dist_listen_min 9000": "-kernel inet_dist_listen_min",
    "-kernel inet_dist_listen_max 9000": "-kernel inet_dist_listen_max",
    "-kernel epmd_module evil": "-kernel epmd_module",
    "-epmd_module evil": "-epmd_module",
    "-erl_epmd_port 9000": "-erl_epmd_port",
    "-ssl_dist_optfile /tmp/x": "-ssl_dist_optfile",
    "-ssl_dist_opt server_verify verify_none": "-ssl_dist_opt",
    "-start_epmd true": "-start_epmd",
    "-name other@host": "-name",
    "-sname other": "-sname",
    "-heart": "-heart",
    "-mode interactive": "-mode",
    "-pa /tmp": "-pa",
    "-pz /tmp": "-pz",
    "-boot /tmp/start": "-boot",
    "-config /tmp/sys": "-config",
    "-extra --eval IO.puts(1)": "-extra",
}

# Elixir's own default rel/vm.args.eex output: every line a comment.
ELIXIR_DEFAULT_VM_ARGS = """## Customize flags given to the VM: https://www.erlang.org/doc/man/erl.html
## -mode/-name/-sname/-setcookie are configured via env vars, do not set them here

## Increase number of concurrent ports/sockets
##+Q 65536

## Tweak GC to run more often
##-env ERL_FULLSWEEP_AFTER 10
"""


@pytest.mark.parametrize("line", sorted(REFUSED_LINES))
def test_vm_args_refuses_each_dangerous_flag_by_name_and_line(line: str) -> None:
    problems = vm_args_problems(f"+S 2:2\n# a comment\n{line}\n+sbwt none\n")
    assert [(p.line, p.word) for p in problems] == [(3, REFUSED_LINES[line])]
    assert problems[0].reason


def test_vm_args_with_only_allowlisted_flags_and_comments_passes() -> None:
    text = ELIXIR_DEFAULT_VM_ARGS + "+S 4:4 +SDio 8\n+sbwt none # no busy waiting\n+fnu\n+MBas aobf\n+P 1048576\n"
    assert vm_args_problems(text) == []


def test_vm_args_is_split_like_erlexec_does() -> None:
    assert vm_args_words("+S 2:2#comment\n  a\\ b\n\\#x # rest\n") == [
        (1, "+S"), (1, "2:2"), (2, "a b"), (3, "#x")]


def test_a_flag_hidden_behind_an_escape_or_comment_boundary_is_still_found() -> None:
    problems = vm_args_problems("+fnu#\n-proto_dist inet_tcp\n-set\\cookie x\n")
    assert [p.word for p in problems] == ["-proto_dist", "-setcookie"]


def test_a_missing_or_bad_value_is_a_problem_and_does_not_swallow_the_next_flag() -> None:
    problems = vm_args_problems("+P\n-setcookie abc\n+sbwt forever\n")
    assert [(p.line, p.word) for p in problems] == [(1, "+P"), (2, "-setcookie"), (3, "+sbwt forever")]


def test_unknown_plus_flags_and_stray_values_are_refused() -> None:
    accepted, problems = check_words([(0, "+Zz"), (0, "1"), (0, "+P"), (0, "9"), (0, "stray")])
    assert accepted == ["+P", "9"]
    assert [p.word for p in problems] == ["+Zz", "stray"]
    assert "not an allowed emulator flag" in problems[0].reason
    assert "not a flag" in problems[1].reason


def test_jit_switches_that_undo_write_xor_execute_are_refused_with_their_reason() -> None:
    _, problems = check_words([(0, "+JMsingle"), (0, "true"), (0, "+JPperf"), (0, "true"), (0, "+JDdump")])
    assert [p.word for p in problems] == ["+JMsingle", "+JPperf", "+JDdump"]
    assert "MemoryDenyWriteExecute" in problems[0].reason
    assert "perf map" in problems[1].reason
    assert "W^X" in problems[2].reason


def test_every_allowlisted_flag_documents_what_it_tunes() -> None:
    assert all(flag.name.startswith("+") and flag.meaning for flag in ALLOWED.values())


# -- launcher.vm_flags in build-image.yaml -----------------------------------

def write_config(tmp_path: Path, vm_flags: object) -> Path:
    (tmp_path / "mix.exs").write_text("defmodule X.MixProject do end\n")
    path = tmp_path / "build-image.yaml"
    path.write_text(yaml.safe_dump({
        "release": "hello",
        "otp": {"version": "27.3.4.1", "debian": "trixie"},
        "elixir": {"version": "1.18.3", "debian": "trixie"},
        "launcher": {"vm_flags": vm_flags},
    }))
    return path


def test_vm_flags_become_argv_words(tmp_path: Path) -> None:
    loaded = config.load(write_config(tmp_path, ["+S 2:2", "+sbwt none", "+fnu"]))
    assert loaded.launcher.vm_flags == ("+S", "2:2", "+sbwt", "none", "+fnu")


@pytest.mark.parametrize("item, expected", [
    ("-proto_dist inet_tcp", "chooses the distribution protocol"),
    ("-setcookie x", "cookie"),
    ("+sbw none", "did you mean '+sbwt'"),
    ("+S many", "+S takes a value"),
    ("", "one emulator flag"),
])
def test_refused_vm_flags_name_file_key_value_and_why(tmp_path: Path, item: str, expected: str) -> None:
    path = write_config(tmp_path, ["+fnu", item])
    with pytest.raises(ConfigError) as error:
        config.load(path)
    message = str(error.value)
    assert f"{path}: launcher.vm_flags[1]: {item!r} is not allowed" in message
    assert expected in message


def test_the_vm_args_check_cannot_be_waived(tmp_path: Path) -> None:
    path = write_config(tmp_path, [])
    document = yaml.safe_load(path.read_text())
    document["verify"] = {"waivers": [{"path": "/app/releases/*/vm.args", "properties": ["vm-args"],
                                       "reason": "we need -kernel flags here"}]}
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=r"verify\.waivers\[0\]\.properties\[0\]: 'vm-args'"):
        config.load(path)
    assert not Waiver(path="*", properties=frozenset({"*", "vm-args"}), reason="x").covers(
        "/app/releases/0.1.0/vm.args", "vm-args")


def test_the_readme_table_is_the_allowlist() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## VM flags are decided at build time", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `+")}
    allocators = {name for name in ALLOWED if name.startswith("+M") and name != "+MMscs"}
    assert documented == {*ALLOWED} - allocators | {"+M<a><p>"}
