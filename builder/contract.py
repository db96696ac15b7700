"""The image contract: the facts every part of build-image relies on, written once.

The assembler lays the image out by these facts, the verifier checks them,
``build-image run`` and the certificate writer follow them, and the C
launcher reads them from ``launcher/src/contract.h``, which is generated
from this module (``python -m builder.contract > launcher/src/contract.h``)
and checked in; a unit test proves the header and this module agree.

Paths inside the release are relative to the release root: the launcher
finds its root from ``/proc/self/exe`` and only falls back to
:data:`APP_ROOT`.
"""

from __future__ import annotations

import sys
from typing import Final

#: The run user and group: distroless ``nonroot``.
RUN_UID: Final = 65532
RUN_GID: Final = 65532
RUN_USER: Final = f"{RUN_UID}:{RUN_GID}"
RUN_HOME: Final = "/home/nonroot"

#: Where the release lives in the image.
APP_ROOT: Final = "/app"
BIN_DIR: Final = "bin"
#: The entrypoint command; every verb is a hard link of the same inode.
SERVER_COMMAND: Final = "server"
#: What the stock start script calls the server; the launcher accepts it too.
SERVER_ALIAS: Final = "start"
ENTRYPOINT: Final = f"{APP_ROOT}/{BIN_DIR}/{SERVER_COMMAND}"

#: The distribution certificates: a mount point, empty in the image.
DIST_CERTS_DIR: Final = "dist-certs"
DIST_CERT: Final = "dist-cert.pem"
DIST_KEY: Final = "dist-key.pem"
DIST_CA: Final = "dist-ca.pem"
DIST_CERT_FILES: Final = (DIST_CERT, DIST_KEY, DIST_CA)
DIST_CERTS_MOUNT: Final = f"{APP_ROOT}/{DIST_CERTS_DIR}"
#: The ``-ssl_dist_optfile`` the assembler writes.
TLS_OPTIONS_FILE: Final = "dist/inet_tls.config"

#: The release's temporary directory: a tmpfs in every way the image is run.
RELEASE_TMP: Final = "/tmp"
TMPFS_OPTIONS: Final = "rw,noexec,nosuid,nodev,size=64m"

#: Ports: the one distribution port and the example app's HTTP port.
DEFAULT_DIST_PORT: Final = 24369
DEFAULT_HTTP_PORT: Final = 4000
#: epmd's well-known port: open only when the launcher starts epmd (not EPMD-less).
EPMD_PORT: Final = 4369

#: The environment variable the cookie comes from (by name, never on a command line).
COOKIE_VAR: Final = "RELEASE_COOKIE"

#: systemd credentials (``LoadCredential=``): the variable systemd sets to the
#: service's credentials directory, the only tree the launcher accepts it in,
#: and the credential the cookie is read from.  The distribution certificates
#: are credentials named like :data:`DIST_CERT_FILES`, bound onto
#: :data:`DIST_CERTS_MOUNT` by the unit (``BindReadOnlyPaths=%d:/app/dist-certs``).
CREDENTIALS_VAR: Final = "CREDENTIALS_DIRECTORY"
CREDENTIALS_ROOT: Final = "/run/credentials/"
COOKIE_CREDENTIAL: Final = "cookie"

#: The launcher's environment rule: whatever reaches the VM as flags or code
#: paths is decided at build time.  It refuses to start (exit
#: :data:`EXIT_ENV_REFUSED`) when a variable whose name starts with one of
#: these prefixes, or is one of these names, is set, even to "": erlexec, the
#: VM, the dynamic loader or glibc would read it as flags, code or loader
#: settings (launcher/README.md lists where each is read).
REFUSED_ENV_PREFIXES: Final = ("ERL_", "LD_")
REFUSED_ENV_NAMES: Final = ("ELIXIR_ERL_OPTIONS", "GLIBC_TUNABLES", "GCONV_PATH")
#: Documented launcher knobs a refused prefix would otherwise catch.
ALLOWED_ENV_NAMES: Final = ("ERL_CRASH_DUMP_SECONDS",)
EXIT_ENV_REFUSED: Final = 77

#: Commands of the stock release script that take or run caller expressions:
#: they do not exist in the launcher and get a message of their own.
EXPRESSION_COMMANDS: Final = ("eval", "rpc", "remote")
#: Names no task verb may take: the server's, the expression commands and the
#: rest of the stock script's commands, which a verb would shadow.
RESERVED_VERBS: Final = frozenset({
    SERVER_COMMAND, SERVER_ALIAS, *EXPRESSION_COMMANDS,
    "start_iex", "daemon", "daemon_iex", "restart", "stop", "pid", "version",
})


def c_header() -> str:
    """``launcher/src/contract.h``: the same facts as C macros."""
    def string(text: str) -> str:
        return '"' + text + '"'

    def strings(items: tuple[str, ...] | list[str]) -> str:
        return "{" + ", ".join(string(i) for i in items) + ", NULL}"

    defines = [
        ("CONTRACT_APP_ROOT", string(APP_ROOT)),
        ("CONTRACT_SERVER_COMMAND", string(SERVER_COMMAND)),
        ("CONTRACT_SERVER_ALIAS", string(SERVER_ALIAS)),
        ("CONTRACT_DIST_CERTS_DIR", string(DIST_CERTS_DIR)),
        ("CONTRACT_DIST_CERT_FILES", strings(DIST_CERT_FILES)),
        ("CONTRACT_TLS_OPTIONS_FILE", string(TLS_OPTIONS_FILE)),
        ("CONTRACT_DEFAULT_DIST_PORT", str(DEFAULT_DIST_PORT)),
        ("CONTRACT_COOKIE_VAR", string(COOKIE_VAR)),
        ("CONTRACT_CREDENTIALS_VAR", string(CREDENTIALS_VAR)),
        ("CONTRACT_CREDENTIALS_ROOT", string(CREDENTIALS_ROOT)),
        ("CONTRACT_COOKIE_CREDENTIAL", string(COOKIE_CREDENTIAL)),
        ("CONTRACT_REFUSED_ENV_PREFIXES", strings(REFUSED_ENV_PREFIXES)),
        ("CONTRACT_REFUSED_ENV_NAMES", strings(REFUSED_ENV_NAMES)),
        ("CONTRACT_ALLOWED_ENV_NAMES", strings(ALLOWED_ENV_NAMES)),
        ("CONTRACT_EXIT_ENV_REFUSED", str(EXIT_ENV_REFUSED)),
        ("CONTRACT_EXPRESSION_COMMANDS", strings(EXPRESSION_COMMANDS)),
    ]
    width = max(len(name) for name, _ in defines)
    lines = [
        "/*",
        " * The image contract, generated from builder/contract.py by",
        " * `python -m builder.contract > launcher/src/contract.h`.  Do not edit:",
        " * tests/launcher/test_contract.py fails when the two disagree.",
        " */",
        "#ifndef LAUNCHER_CONTRACT_H",
        "#define LAUNCHER_CONTRACT_H",
        "",
        *(f"#define {name:<{width}} {value}" for name, value in defines),
        "",
        "#endif",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(c_header())
