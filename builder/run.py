"""How production should run the image, as a ``docker run`` command line.

The image is hardened; a careless ``docker run`` throws half of that away
(writable root, default capabilities, setuid escalation, the cookie pasted
on the command line where ``ps`` shows it).  ``docker_run_argv`` is the one
place that spells out the safe way, so ``build-image run`` and the README
say the same thing, and the tests prove that exact line serves:

- ``--read-only`` root filesystem, a tmpfs at ``/tmp`` (the image's
  ``RELEASE_TMP``: the runtime config and the cookie file go there);
- ``--cap-drop ALL`` and ``no-new-privileges``; the contract's run user (``nonroot``);
- the image's own seccomp profile (``builder.seccomp``), not Docker's default;
- the node's certificate directory bind-mounted read-only at
  ``/app/dist-certs`` (in Kubernetes: a Secret volume at that path);
- the cookie passed by *name* (``-e RELEASE_COOKIE``): docker copies the
  value from its own environment, so it never appears in any argv.
"""

from __future__ import annotations

import ipaddress
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from builder import contract
from builder.errors import CertificateError, ConfigError, UsageError

RUNTIME_USER = (contract.RUN_UID, contract.RUN_GID)
TMPFS = f"{contract.RELEASE_TMP}:{contract.TMPFS_OPTIONS}"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Network:
    """A user-defined Docker network and this container's address on it.

    The address is also handed to the node as ``POD_IP``, which the launcher
    uses for the node name (``<release>@<POD_IP>``), so peers can reach it.
    """

    name: str
    ip: str

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.ip)
        except ValueError as exc:
            raise UsageError(f"{self.ip!r} is not an IP address",
                             hint="give the container's address on the network, e.g. 172.30.0.10") from exc


def docker_run_argv(
    image: str,
    certs_dir: Path,
    *,
    publish: int | None = None,
    http_port: int = contract.DEFAULT_HTTP_PORT,
    network: Network | None = None,
    name: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    command: tuple[str, ...] = (),
    seccomp: Path | None = None,
) -> list[str]:
    """The ``docker run`` argv that runs ``image`` the way production should.

    ``publish`` maps that host port (on 127.0.0.1 only) to ``http_port``.
    ``extra_env`` values *are* written on the command line: never put a
    secret there; the cookie travels only by name (see :func:`docker_run_env`).
    ``seccomp`` is the image's profile (``builder.seccomp``); without one
    Docker's default profile applies, which allows ptrace and ~350 other calls.
    """
    certs = _checked_certs_dir(certs_dir)
    argv = [
        "docker", "run", "--rm",
        "--read-only",
        "--tmpfs", TMPFS,
        "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges",
        *(["--security-opt", f"seccomp={_checked_profile(seccomp)}"] if seccomp is not None else []),
        "--user", contract.RUN_USER,
        "--mount", f"type=bind,source={certs},target={contract.DIST_CERTS_MOUNT},readonly",
        "-e", contract.COOKIE_VAR,
    ]
    if name is not None:
        argv += ["--name", name]
    if network is not None:
        argv += ["--network", network.name, "--ip", network.ip, "-e", f"POD_IP={network.ip}"]
    if publish is not None:
        argv += ["-p", f"127.0.0.1:{_port(publish)}:{_port(http_port)}"]
    for key, value in sorted((extra_env or {}).items()):
        argv += ["-e", f"{_env_name(key)}={value}"]
    return [*argv, image, *command]


def docker_run_env(environ: Mapping[str, str], cookie_env: str = contract.COOKIE_VAR) -> dict[str, str]:
    """The environment for the ``docker`` client process: ``environ`` with
    ``RELEASE_COOKIE`` taken from the variable named ``cookie_env``.

    The image reads only ``RELEASE_COOKIE``; a caller whose secret lives under
    another name gets it copied here, in memory, so it still never touches
    an argv.  A missing or empty cookie is refused before Docker starts.
    """
    cookie = environ.get(_env_name(cookie_env), "")
    if not cookie:
        raise ConfigError(
            f"the environment variable {cookie_env} (the distribution cookie) is not set or empty",
            hint=f"export {cookie_env} from your secret store, e.g. "
            f"`export {cookie_env}=$(head -c 32 /dev/urandom | base64)` for local work",
        )
    return {**environ, contract.COOKIE_VAR: cookie}


def _checked_certs_dir(certs_dir: Path) -> Path:
    """Fail early, with a fix, where the launcher would refuse inside the container."""
    certs = certs_dir.resolve()
    missing = [f for f in contract.DIST_CERT_FILES if not (certs / f).is_file()]
    if missing:
        raise CertificateError(
            f"{certs} lacks {', '.join(missing)}",
            hint="point at one node's directory written by `build-image dist-certs DIR` "
            "(e.g. DIR/node-1), or at your own dist-cert.pem, dist-key.pem and dist-ca.pem",
        )
    unreadable = [f for f in contract.DIST_CERT_FILES if not _readable_by(certs / f, *RUNTIME_USER)]
    if unreadable:
        raise CertificateError(
            f"{', '.join(unreadable)} in {certs} cannot be read by the container user "
            f"{contract.RUN_USER}",
            hint=f"chown {RUNTIME_USER[0]}:{RUNTIME_USER[1]} the files (keep the key 0600), "
            "or write them as root with `build-image dist-certs`, which makes the container user their owner",
        )
    return certs


def _checked_profile(profile: Path) -> Path:
    """Docker reads the profile itself and says only "no such file"; say what to do."""
    if not profile.is_file():
        raise UsageError(f"the seccomp profile {profile} does not exist",
                         hint="write it with `build-image seccomp` (`build` writes it too)")
    return profile.resolve()


def _readable_by(path: Path, uid: int, gid: int) -> bool:
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & stat.S_IRUSR)
    if info.st_gid == gid:
        return bool(info.st_mode & stat.S_IRGRP)
    return bool(info.st_mode & stat.S_IROTH)


def _port(value: int) -> int:
    if not 1 <= value <= 65535:
        raise UsageError(f"port {value} is out of range", hint="use a port between 1 and 65535")
    return value


def _env_name(key: str) -> str:
    if not _ENV_NAME.fullmatch(key):
        raise UsageError(f"{key!r} is not an environment variable name",
                         hint="use letters, digits and '_', not starting with a digit")
    return key

