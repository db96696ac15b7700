"""The image contract (builder/contract.py) and the launcher agree: the
checked-in launcher/src/contract.h is what the module generates, the C
sources take every contract fact from it, and the launcher's behaviour
shows the values."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder import contract
from tests.launcher.conftest import (
    LAUNCHER_SRC,
    RELEASE_NAME,
    REPO,
    SANITIZE,
    ReleaseTree,
    make_tree,
)

HEADER = LAUNCHER_SRC / "src" / "contract.h"
EXIT_ENV_REFUSED = contract.EXIT_ENV_REFUSED


def test_checked_in_header_is_the_generated_one() -> None:
    assert HEADER.read_text() == contract.c_header()


def test_the_module_writes_the_header() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "builder.contract"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout == HEADER.read_text()


def test_the_header_compiles_to_the_module_values(tmp_path: Path) -> None:
    program = tmp_path / "dump.c"
    program.write_text(
        '#include "contract.h"\n#include <stdio.h>\n'
        "static const char *const certs[] = CONTRACT_DIST_CERT_FILES;\n"
        "static const char *const refused[] = CONTRACT_REFUSED_ENV_NAMES;\n"
        "int main(void) {\n"
        '    printf("%s|%s|%s|%s|%d|%d|", CONTRACT_APP_ROOT, CONTRACT_DIST_CERTS_DIR,\n'
        "           CONTRACT_TLS_OPTIONS_FILE, CONTRACT_COOKIE_VAR, CONTRACT_DEFAULT_DIST_PORT,\n"
        "           CONTRACT_EXIT_ENV_REFUSED);\n"
        '    for (int i = 0; certs[i]; i++) printf("%s,", certs[i]);\n'
        '    for (int i = 0; refused[i]; i++) printf("%s;", refused[i]);\n'
        "    return 0;\n}\n"
    )
    exe = tmp_path / "dump"
    subprocess.run(
        ["gcc", "-std=c11", "-Wall", "-Werror", f"-I{HEADER.parent}", str(program), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    assert out == (
        f"{contract.APP_ROOT}|{contract.DIST_CERTS_DIR}|{contract.TLS_OPTIONS_FILE}|"
        f"{contract.COOKIE_VAR}|{contract.DEFAULT_DIST_PORT}|{contract.EXIT_ENV_REFUSED}|"
        + "".join(f"{c}," for c in contract.DIST_CERT_FILES)
        + "".join(f"{n};" for n in contract.REFUSED_ENV_NAMES)
    )


# The facts no C file may spell out itself: each must come from contract.h.
FACT_LITERALS = [
    f'"{contract.APP_ROOT}"',
    contract.DIST_CERTS_DIR,
    *contract.DIST_CERT_FILES,
    contract.TLS_OPTIONS_FILE,
    str(contract.DEFAULT_DIST_PORT),
    *(f'"{prefix}"' for prefix in contract.REFUSED_ENV_PREFIXES),
    *(f'"{name}"' for name in contract.REFUSED_ENV_NAMES),
    f'"{contract.CREDENTIALS_VAR}"',
    f'"{contract.CREDENTIALS_ROOT}"',
    f'"{contract.COOKIE_CREDENTIAL}"',
    "77",
]
# Command names, where commands are resolved and listed ("start" and "eval"
# are also a boot script and a RELEASE_COMMAND value elsewhere).
COMMAND_LITERALS = [
    *(f'"{command}"' for command in contract.EXPRESSION_COMMANDS),
    f'"{contract.SERVER_COMMAND}"',
    f'"{contract.SERVER_ALIAS}"',
]
COMMAND_FILES = {"resolve.c", "main.c"}


@pytest.mark.parametrize(
    "source",
    sorted(p for p in (LAUNCHER_SRC / "src").iterdir() if p.name != "contract.h"),
    ids=lambda p: p.name,
)
def test_no_c_source_repeats_a_contract_fact(source: Path) -> None:
    # Comments may name the facts; code may not.
    code = re.sub(r"/\*.*?\*/", "", source.read_text(), flags=re.DOTALL)
    facts = FACT_LITERALS + (COMMAND_LITERALS if source.name in COMMAND_FILES else [])
    found = [fact for fact in facts if fact in code]
    # checks.c names variables to pick a message kind; the rule itself is the contract's.
    allowed = {"checks.c": {'"ERL_"', '"LD_"', *(f'"{n}"' for n in contract.REFUSED_ENV_NAMES)}}
    assert set(found) <= allowed.get(source.name, set()), found


def test_a_missing_certificate_is_named_by_the_contract_path(tree: ReleaseTree) -> None:
    key = tree.root / contract.DIST_CERTS_DIR / contract.DIST_KEY
    key.unlink()
    run = tree.run(contract.SERVER_COMMAND)
    assert run.returncode == 78, run.stderr
    names = ", ".join(contract.DIST_CERT_FILES)
    assert run.stderr == (
        f"server: TLS distribution is required but {tree.root}/dist-certs/dist-key.pem is not "
        f"readable (No such file or directory); mount the distribution certificates ({names}) "
        f"at the {contract.DIST_CERTS_DIR} directory\n"
    )


def test_the_tls_options_file_is_the_contract_one(tree: ReleaseTree) -> None:
    run = tree.run(contract.SERVER_ALIAS)
    assert run.returncode == 0, run.stderr
    argv = run.erlexec["argv"]
    assert argv[argv.index("-ssl_dist_optfile") + 1] == f"{tree.root}/{contract.TLS_OPTIONS_FILE}"


@pytest.mark.parametrize("command", contract.EXPRESSION_COMMANDS)
def test_expression_commands_come_from_the_contract(tree: ReleaseTree, command: str) -> None:
    run = tree.run(RELEASE_NAME, command)
    assert run.returncode == 64
    assert f"'{command}' does not exist in this release" in run.stderr
    assert f"allowed commands: {contract.SERVER_COMMAND}, {contract.SERVER_ALIAS}, " in run.stderr


@pytest.mark.parametrize(
    "variable",
    [*contract.REFUSED_ENV_NAMES, *(f"{p}CONTRACT_TEST" for p in contract.REFUSED_ENV_PREFIXES)],
)
def test_the_environment_rule_is_the_contract_one(tree: ReleaseTree, variable: str) -> None:
    run = tree.run("seed", env={variable: ""})
    assert run.returncode == EXIT_ENV_REFUSED, run.stderr
    assert run.stderr.startswith(f"seed: {variable} is set: ")


@pytest.mark.parametrize("variable", contract.ALLOWED_ENV_NAMES)
def test_the_allowed_names_pass(tree: ReleaseTree, variable: str) -> None:
    run = tree.run("seed", env={variable: "0"})
    assert run.returncode == 0, run.stderr


def test_without_dist_port_the_contract_port_is_used(tmp_path: Path) -> None:
    out = tmp_path / "server"
    target = "asan" if SANITIZE else "all"
    subprocess.run(
        ["make", "-s", "-C", str(LAUNCHER_SRC), target, f"OUT={out}", f"RELEASE_NAME={RELEASE_NAME}"],
        check=True, capture_output=True,
    )  # fmt: skip
    tree = make_tree(tmp_path / "tree", out)
    run = tree.run("server")
    assert run.returncode == 0, run.stderr
    port = str(contract.DEFAULT_DIST_PORT)
    argv = run.erlexec["argv"]
    assert argv[argv.index("inet_dist_listen_min") + 1] == port
    assert argv[argv.index("inet_dist_listen_max") + 1] == port
    assert run.erlexec["env"]["DIST_PORT"] == port


def test_without_proc_the_root_is_the_contract_app_root(tree: ReleaseTree) -> None:
    """/proc/self/exe unreadable (an empty /proc in a private mount
    namespace): the launcher falls back to CONTRACT_APP_ROOT."""
    if Path(contract.APP_ROOT).exists():
        pytest.skip(f"{contract.APP_ROOT} exists on this machine")
    unshare = shutil.which("unshare")
    probe = subprocess.run(
        [unshare or "unshare", "-m", "true"], capture_output=True, check=False
    ) if unshare else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no private mount namespace here (needs CAP_SYS_ADMIN)")
    exe = tree.link("server")
    done = subprocess.run(
        [unshare, "-m", "sh", "-c", 'mount -t tmpfs none /proc && exec "$0"', str(exe)],
        env=tree.base_env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert done.stderr.startswith(
        f"server: cannot read {contract.APP_ROOT}/releases/start_erl.data (No such file"
    ), done.stderr
