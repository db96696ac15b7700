"""builder.tasks: verb validation and the generated C header."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ConfigError
from builder.tasks import render_task_header, validate_tasks
from builder.templates import c_string_body
from tests.launcher.conftest import run_with_header


@pytest.mark.parametrize(
    "verb",
    ["Migrate", "1st", "_x", "mi-grate", "mi grate", "", "é", "a" * 65, "migrate\n"],
)
def test_bad_verb_names_are_refused_by_name(verb: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_tasks({verb: "IO.puts(1)"})
    assert repr(verb) in str(caught.value)
    assert caught.value.hint


@pytest.mark.parametrize(
    "verb",
    ["server", "start", "eval", "rpc", "remote", "daemon", "stop", "pid", "version"],
)
def test_reserved_verbs_are_refused(verb: str) -> None:
    with pytest.raises(ConfigError, match=f"verb '{verb}' is reserved"):
        validate_tasks({verb: "IO.puts(1)"})


@pytest.mark.parametrize("expression", ["", "   \n", None, 3])
def test_empty_or_non_text_expression_is_refused(expression: object) -> None:
    with pytest.raises(ConfigError, match="verb 'migrate' has an empty expression"):
        validate_tasks({"migrate": expression})  # type: ignore[dict-item]


def test_nul_in_expression_is_refused() -> None:
    with pytest.raises(ConfigError, match="expression of verb 'seed' contains a NUL"):
        validate_tasks({"seed": "IO.puts(1)\0"})


def test_first_bad_verb_in_sorted_order_is_reported() -> None:
    with pytest.raises(ConfigError, match="'Bad'"):
        validate_tasks({"zeta": "x()", "Bad": "y()", "eval": "z()"})


def test_valid_tasks_pass_in_verb_order() -> None:
    tasks = {"seed_db2": "Hello.seed()", "migrate": "Hello.Release.migrate()"}
    assert validate_tasks(tasks) == (("migrate", "Hello.Release.migrate()"), ("seed_db2", "Hello.seed()"))


def test_c_string_escaping() -> None:
    assert c_string_body('a"b\\c?\n\t\r') == 'a\\"b\\\\c\\?\\n\\t\\r'
    assert c_string_body("é\x01") == "\\303\\251\\001"
    assert c_string_body("\x7f1") == "\\1771"


def test_header_lists_verbs_sorted_and_escaped() -> None:
    header = render_task_header({"seed": 'IO.puts("x")', "migrate": "M.run()"})
    lines = [
        line.strip() for line in header.splitlines() if line.strip().startswith("TASK(")
    ]
    assert lines == [
        'TASK("migrate", "M.run()") \\',
        'TASK("seed", "IO.puts(\\"x\\")") \\',
    ]


def test_escaped_expressions_round_trip_through_the_c_compiler(tmp_path: Path) -> None:
    """The C compiler must read back exactly the bytes of each expression."""
    tasks = {
        "odd": 'IO.puts("q\\"uote ??= ??/ back\\\\slash \t tab\r\nnew é ☃ \x01")',
        "plain": "Hello.Release.migrate()",
    }
    header = tmp_path / "tasks.h"
    header.write_text(render_task_header(tasks))
    out = run_with_header(tmp_path, header, (
        "#include <stdio.h>\n"
        '#define PRINT(verb, expression) printf("%s=%s%c", verb, expression, 0);\n'
        "int main(void) { LAUNCHER_TASKS(PRINT) return 0; }\n"
    )).stdout
    pairs = [item.decode() for item in out.split(b"\0") if item]
    assert pairs == [f"{verb}={tasks[verb]}" for verb in sorted(tasks)]
