"""The command surface: only ``server`` and the audited verbs exist.

Whoever controls the container's command and arguments can reach nothing
else: no ``eval``/``rpc``/``remote``, no unknown verb, no argument to any
verb.  Each verb runs from its hardlinked entry point (``/app/bin/<verb>``)
and in the subcommand form ``/app/bin/hello VERB``, with its own exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from runtime_support import EXIT_USAGE, Node, NodeSpec

pytestmark = pytest.mark.docker

VERBS = {"check": 0, "fail": 3}  # Hello.Tasks.fail() halts with 3


def _run(run_node: Callable[[NodeSpec], Node], image: str, command: Sequence[str],
         entrypoint: str | None = None) -> tuple[int, Node]:
    node = run_node(NodeSpec(image, command=command, entrypoint=[entrypoint] if entrypoint else None))
    return node.wait_exit(), node


@pytest.mark.parametrize("command", [
    ["eval", "IO.puts(:pwned)"], ["eval"], ["rpc", "IO.puts(:pwned)"], ["remote"],
    ["start_iex"], ["daemon"], ["nope"], ["check", "extra"], ["fail", "--eval"], ["server", "x"],
], ids=lambda c: "-".join(c))
def test_subcommands_outside_the_allowed_set_are_refused(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                         command: list[str]) -> None:
    status, node = _run(run_node, example_image, command)
    stderr = node.stderr()
    assert status == EXIT_USAGE, f"{command}: exit {status}, expected {EXIT_USAGE}:\n{node.logs()}"
    assert "pwned" not in node.stdout()
    assert stderr.startswith("server: ") and f"'{command[0]}'" in stderr, stderr
    assert "allowed commands" in stderr and all(verb in stderr for verb in ("server", *VERBS)), stderr


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_a_hardlinked_verb_refuses_any_argument(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                verb: str) -> None:
    status, node = _run(run_node, example_image, ["IO.puts(:pwned)"], entrypoint=f"/app/bin/{verb}")
    assert status == EXIT_USAGE, node.logs()
    assert node.stderr().startswith(f"{verb}: ") and "argument" in node.stderr(), node.stderr()
    assert "pwned" not in node.stdout()


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_runs_from_its_hardlinked_entry_point(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                        verb: str) -> None:
    status, node = _run(run_node, example_image, [], entrypoint=f"/app/bin/{verb}")
    assert status == VERBS[verb], node.logs()
    _assert_verb_output(verb, node)


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_each_verb_runs_in_the_subcommand_form(run_node: Callable[[NodeSpec], Node], example_image: str,
                                               verb: str) -> None:
    # /app/bin/hello is the release-named entry point (like the stock bin/hello COMMAND):
    # its name is no command, so argv[1] is.
    status, node = _run(run_node, example_image, [verb], entrypoint="/app/bin/hello")
    assert status == VERBS[verb], node.logs()
    _assert_verb_output(verb, node)


@pytest.mark.parametrize("command", [["eval", "IO.puts(:pwned)"], ["rpc", "x"], ["remote"], ["nope"],
                                     ["check", "extra"]], ids=lambda c: "-".join(c))
def test_the_subcommand_form_refuses_what_is_not_allowed(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                         command: list[str]) -> None:
    status, node = _run(run_node, example_image, command, entrypoint="/app/bin/hello")
    assert status == EXIT_USAGE, node.logs()
    assert node.stderr().startswith("hello: "), node.stderr()
    assert "pwned" not in node.stdout()


def _assert_verb_output(verb: str, node: Node) -> None:
    if verb == "check":
        assert "hello check: ok (version 0.1.0)" in node.stdout(), node.logs()
    else:
        assert "hello fail: failing on purpose with exit status 3" in node.stderr(), node.logs()
