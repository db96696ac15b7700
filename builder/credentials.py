"""Registry credentials, read where ``docker login`` and skopeo keep them.

Credentials never come from build-image.yaml: the file sits in the app's
repository, and a secret there is a secret in git.  They are looked up like
skopeo and podman do (``--authfile FILE`` or ``REGISTRY_AUTH_FILE``), else in
Docker's own config (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``): the ``auths`` entry of the registry, or the
credential helper ``credHelpers``/``credsStore`` names
(``docker-credential-<name> get``), so ``docker login`` is all a CI job needs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import UsageError
from builder.runner import run

AUTH_FILE_VARIABLE = "REGISTRY_AUTH_FILE"
TOKEN_USERNAME = "<token>"  # what credential helpers answer for an identity (refresh) token
# Docker Hub is known by several names; ``docker login`` files it under the first.
_HUB = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


@dataclass(frozen=True)
class Credentials:
    """A login for one registry, and where it was found (named in messages; the secret never is)."""

    username: str
    secret: str  # the password, or an identity token when username is TOKEN_USERNAME
    source: str

    @property
    def identity_token(self) -> str | None:
        return self.secret if self.username == TOKEN_USERNAME else None

    def basic(self) -> str:
        """The value of an ``Authorization: Basic`` header."""
        return "Basic " + base64.b64encode(f"{self.username}:{self.secret}".encode()).decode()


def auth_file() -> tuple[Path, bool]:
    """The file credentials are read from, and whether the user named it (--authfile, REGISTRY_AUTH_FILE)."""
    named = os.environ.get(AUTH_FILE_VARIABLE)
    if named:
        return Path(named), True
    directory = os.environ.get("DOCKER_CONFIG")
    return (Path(directory) if directory else Path.home() / ".docker") / "config.json", False


def find_credentials(registry: str) -> Credentials | None:
    """The login for ``registry`` (``host[:port]``), or None when there is none.

    A named auth file that does not exist is a usage error: a typo there
    would otherwise read as an anonymous push the registry refuses.
    """
    path, named = auth_file()
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        if named:
            raise UsageError(f"the auth file {path} does not exist",
                             hint=f"check --authfile / {AUTH_FILE_VARIABLE}") from exc
        return None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read registry credentials ({exc})",
                         hint="`docker login REGISTRY` writes a valid file") from exc
    helper = _helper_for(document, registry)
    found = _from_helper(helper, registry) if helper else None
    return found or _from_auths(document.get("auths") or {}, registry, path)


def _names(registry: str) -> tuple[str, ...]:
    """The keys a login for ``registry`` may be filed under."""
    return _HUB if registry in _HUB else (registry,)


def _host(key: str) -> str:
    """``https://host:port/v1/`` → ``host:port``: docker files some logins under URLs."""
    return key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]


def _helper_for(document: Mapping[str, Any], registry: str) -> str | None:
    helpers: Mapping[str, str] = document.get("credHelpers") or {}
    named = next((helpers[key] for key in helpers if key in _names(registry) or _host(key) == registry), None)
    store: str | None = document.get("credsStore")
    return named or store


def _from_helper(helper: str, registry: str) -> Credentials | None:
    """Ask ``docker-credential-<helper>`` (the docker credential-helper protocol: server on stdin)."""
    program = f"docker-credential-{helper}"
    for name in _names(registry):
        done = run([program, "get"], input_bytes=name.encode(), check=False)
        if done.returncode == 0:
            answer = json.loads(done.stdout or b"{}")
            return Credentials(str(answer.get("Username", "")), str(answer.get("Secret", "")), program)
        if b"credentials not found" not in (done.stdout or b"") + (done.stderr or b""):
            raise UsageError(f"{program} could not give the login for {registry}: "
                             f"{(done.stderr or done.stdout or b'').decode(errors='replace').strip()[:200]}",
                             hint=f"run `docker login {registry}` again, or fix the helper")
    return None


def _from_auths(auths: Mapping[str, Mapping[str, str]], registry: str, path: Path) -> Credentials | None:
    """The ``auths`` entry: ``auth`` (base64 user:password), ``username``/``password``, or ``identitytoken``."""
    key = next((k for k in auths if k in _names(registry) or _host(k) in _names(registry)), None)
    if key is None:
        return None
    entry = auths[key]
    if entry.get("identitytoken"):
        return Credentials(TOKEN_USERNAME, entry["identitytoken"], str(path))
    if entry.get("auth"):
        try:
            username, _, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: the login for {key} is not base64 of user:password") from exc
        return Credentials(username, password, str(path))
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password", ""), str(path))
    return None


@contextmanager
def docker_config_for(registry: str) -> Iterator[dict[str, str]]:
    """The environment for a program that reads Docker's config (cosign): only ``registry``'s login.

    cosign knows neither ``--authfile`` nor every helper, so the login found
    here is handed to it in a private ``DOCKER_CONFIG`` (mode 0700, removed
    afterwards), never on its command line where ``ps`` would show it.
    """
    found = find_credentials(registry)
    if found is None:
        yield dict(os.environ)
        return
    entry = ({"identitytoken": found.secret} if found.identity_token
             else {"auth": base64.b64encode(f"{found.username}:{found.secret}".encode()).decode()})
    with tempfile.TemporaryDirectory(prefix="build-image-auth-") as directory:
        config = Path(directory) / "config.json"
        config.touch(mode=0o600)
        config.write_text(json.dumps({"auths": {registry: entry}}))
        yield {**os.environ, "DOCKER_CONFIG": directory}
