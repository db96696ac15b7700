"""The registry HTTP API (distribution v2), spoken directly.

Pushing through the API rather than ``docker push`` keeps the blobs exactly
as :mod:`builder.oci` wrote them, so the digest the registry serves is the
digest computed here.  Only monolithic uploads are used.  A registry that
answers 401 gets the login :mod:`builder.credentials` finds for it (Docker's
config or ``--authfile``): ``Basic`` directly, ``Bearer`` through the token
endpoint its challenge names (the distribution token protocol).  The
``Authorization`` header is never carried over a redirect (blob storage
behind a registry must not see it).  Registries on the loopback address are
spoken to over plain HTTP, every other one over HTTPS.  Everything fetched
by digest is checked against it: a signature over a digest is worth only
what that check is worth.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from http.client import HTTPMessage
from typing import IO

from builder.credentials import Credentials, auth_file, find_credentials
from builder.errors import RegistryError, UsageError
from builder.oci import Blob, OciImage

_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$")
_REFERENCE = re.compile(
    r"^(?P<registry>[a-zA-Z0-9.-]+(:\d+)?|\[::1\](:\d+)?)/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
    r"(:(?P<tag>[\w][\w.-]{0,127}))?(@(?P<digest>sha256:[0-9a-f]{64}))?$")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")
TIMEOUT = 300
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Authorization headers that worked, by (registry, repository, writing): one 401 per scope and run.
_AUTHORIZED: dict[tuple[str, str, bool], str] = {}


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``; the registry part is never implied."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        match = _REFERENCE.match(text)
        if not match or ("." not in match["registry"] and ":" not in match["registry"]
                         and match["registry"] != "localhost"):
            raise UsageError(f"{text!r} is not a registry reference",
                             hint="name the registry: 127.0.0.1:5000/hello:latest or registry.example/team/app:1.0")
        return cls(match["registry"], match["repository"], match["tag"], match["digest"])

    @property
    def base_url(self) -> str:
        scheme = "http" if _LOOPBACK.match(self.registry) else "https"
        return f"{scheme}://{self.registry}/v2/{self.repository}"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        return (f"{self.registry}/{self.repository}" + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes


class Registry:
    """One repository of one registry."""

    def __init__(self, reference: Reference) -> None:
        self.reference = reference

    # -- blobs ----------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self._send("HEAD", f"/blobs/{digest}", ok=(200, 404)).status == 200

    def put_blob(self, blob: Blob) -> None:
        """Upload ``blob`` in one request, unless the registry has it already."""
        if self.has_blob(blob.digest):
            return
        if blob.held:
            raise RegistryError(f"{self.reference.registry}/{self.reference.repository} no longer holds "
                                f"{blob.digest}, which a cache entry named",
                                hint="the registry was garbage-collected meanwhile: run the build again")
        started = self._send("POST", "/blobs/uploads/", ok=(202,))
        location = urllib.parse.urljoin(self.reference.base_url + "/", started.headers["Location"])
        separator = "&" if "?" in location else "?"
        self._send("PUT", f"{location}{separator}digest={blob.digest}", blob.data,
                   {"Content-Type": "application/octet-stream"}, ok=(201,))

    def get_blob(self, digest: str) -> bytes:
        """The blob ``digest``, checked against it."""
        return _checked(digest, self._send("GET", f"/blobs/{digest}", ok=(200,)).body, self.reference)

    @contextmanager
    def open_blob(self, digest: str) -> Iterator[IO[bytes]]:
        """The blob ``digest`` as a stream (large layers); the reader checks it against the digest."""
        status, _, stream = self._open("GET", self.reference.base_url + f"/blobs/{digest}", None, {})
        try:
            if status != 200:
                raise self._refused("GET", f"/blobs/{digest}", status, stream.read(300))
            yield stream
        finally:
            stream.close()

    # -- manifests --------------------------------------------------------------
    def put_manifest(self, reference: str, blob: Blob) -> str:
        """Store ``blob`` as the manifest ``reference`` (a tag or digest); return the served digest."""
        response = self._send("PUT", f"/manifests/{reference}", blob.data,
                              {"Content-Type": blob.media_type}, ok=(201,))
        return response.headers.get("Docker-Content-Digest") or blob.digest

    def get_manifest(self, reference: str) -> tuple[str, bytes]:
        """(media type, bytes) of the manifest ``reference``."""
        response = self._send("GET", f"/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, ok=(200,))
        return response.headers.get_content_type(), response.body

    def find_manifest(self, reference: str) -> bytes | None:
        """The manifest ``reference`` (checked when it is a digest), or None when the registry has none."""
        response = self._send("GET", f"/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        if response.status != 200:
            return None
        return _checked(reference, response.body, self.reference) if reference.startswith("sha256:") else response.body

    def manifest_digest(self, reference: str) -> str | None:
        """The digest the registry serves for ``reference``, or None when it has no such manifest."""
        response = self._send("HEAD", f"/manifests/{reference}", headers={"Accept": MANIFEST_TYPES},
                              ok=(200, 404))
        return response.headers.get("Docker-Content-Digest") if response.status == 200 else None

    # -- transport ----------------------------------------------------------------
    def _send(self, method: str, path: str, data: bytes | None = None,
              headers: dict[str, str] | None = None, *, ok: tuple[int, ...]) -> Response:
        url = path if "://" in path else self.reference.base_url + path
        status, answer_headers, stream = self._open(method, url, data, headers or {})
        with stream:
            body = stream.read()
        if status not in ok:
            raise self._refused(method, url, status, body)
        return Response(status, answer_headers, body)

    def _open(self, method: str, url: str, data: bytes | None,
              headers: dict[str, str]) -> tuple[int, Message, IO[bytes]]:
        """(status, headers, body stream) of one request, logging in once when the registry answers 401."""
        scope = (self.reference.registry, self.reference.repository, method in _WRITES)
        status, answer_headers, stream = _request(method, url, data, headers, _AUTHORIZED.get(scope))
        if status != 401:
            return status, answer_headers, stream
        stream.close()
        credentials = find_credentials(self.reference.registry)
        _AUTHORIZED[scope] = self._authorization(answer_headers.get("WWW-Authenticate", ""), credentials, scope)
        status, answer_headers, stream = _request(method, url, data, headers, _AUTHORIZED[scope])
        if status == 401:
            stream.close()
            del _AUTHORIZED[scope]
            raise self._unauthorized(credentials)
        return status, answer_headers, stream

    def _authorization(self, challenge: str, credentials: Credentials | None,
                       scope: tuple[str, str, bool]) -> str:
        """The Authorization header answering ``challenge`` (Basic, or a Bearer token from its realm)."""
        kind, _, rest = challenge.partition(" ")
        if kind.lower() == "basic":
            if credentials is None:
                raise self._unauthorized(None)
            return credentials.basic()
        if kind.lower() != "bearer":
            raise RegistryError(f"{self.reference.registry} asks for {kind or 'an unnamed'} authentication, "
                                "which build-image does not speak (Basic and Bearer tokens only)")
        fields = dict(_CHALLENGE.findall(rest))
        wanted = f"repository:{self.reference.repository}:{'pull,push' if scope[2] else 'pull'}"
        query = urllib.parse.urlencode({"service": fields.get("service", ""), "scope": fields.get("scope", wanted)})
        token_url = f"{fields.get('realm', '')}?{query}"
        login = {"Authorization": credentials.basic()} if credentials and not credentials.identity_token else {}
        if credentials is not None and credentials.identity_token:
            # An identity (refresh) token is exchanged with OAuth2, as docker does.
            form = {"grant_type": "refresh_token", "refresh_token": credentials.identity_token,
                    "service": fields.get("service", ""), "scope": fields.get("scope", wanted),
                    "client_id": "build-image"}
            status, _, stream = _request("POST", fields.get("realm", ""), urllib.parse.urlencode(form).encode(),
                                         {"Content-Type": "application/x-www-form-urlencoded"}, None)
        else:
            status, _, stream = _request("GET", token_url, None, {}, login.get("Authorization"))
        with stream:
            body = stream.read()
        if status in (401, 403):
            raise self._unauthorized(credentials)
        if status != 200:
            raise RegistryError(f"the token service of {self.reference.registry} ({fields.get('realm')}) "
                                f"answered {status}: {body[:200].decode(errors='replace').strip()}")
        answer = json.loads(body)
        return "Bearer " + str(answer.get("token") or answer.get("access_token") or "")

    def _unauthorized(self, credentials: Credentials | None) -> RegistryError:
        registry = self.reference.registry
        if credentials is None:
            path, _ = auth_file()
            return RegistryError(f"{registry} requires a login, and {path} has none for it",
                                 hint=f"`docker login {registry}`, or give --authfile FILE (REGISTRY_AUTH_FILE) "
                                      "holding its login; build-image.yaml never holds credentials")
        return RegistryError(f"{registry} refused the login of {credentials.username!r} from {credentials.source} "
                             "(401 Unauthorized)",
                             hint=f"log in again: `docker login {registry}`, or check --authfile / REGISTRY_AUTH_FILE")

    def _refused(self, method: str, url: str, status: int, body: bytes) -> RegistryError:
        text = body[:300].decode(errors="replace").strip()
        if status == 403:
            return RegistryError(f"{self.reference.registry} denied {method} {url} (403): {text}",
                                 hint="the login has no right to do this in that repository")
        return RegistryError(f"{method} {url}: the registry answered {status}: {text}")


class _NoAuthorizationOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never hand the registry's Authorization to another server."""

    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: HTTPMessage, newurl: str) -> urllib.request.Request | None:
        follow = super().redirect_request(req, fp, code, msg, headers, newurl)
        if follow is not None:
            follow.remove_header("Authorization")
        return follow


_OPENER = urllib.request.build_opener(_NoAuthorizationOnRedirect())


def _request(method: str, url: str, data: bytes | None, headers: dict[str, str],
             authorization: str | None) -> tuple[int, Message, IO[bytes]]:
    """One HTTP request: (status, headers, open body), an HTTP error status included."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if authorization:
        request.add_unredirected_header("Authorization", authorization)
    host = urllib.parse.urlsplit(url).netloc
    try:
        answer = _OPENER.open(request, timeout=TIMEOUT)
        return answer.status, answer.headers, answer
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc
    except (urllib.error.URLError, OSError) as exc:
        raise RegistryError(f"cannot reach the registry {host}: {exc}",
                            hint="is it running? (docs/supply-chain.md shows how to start a local one)") from exc


def _checked(digest: str, data: bytes, where: Reference) -> bytes:
    """``data`` if it is what ``digest`` names; a registry serving other bytes is an error."""
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise RegistryError(f"{where.registry}/{where.repository} served other bytes for {digest}",
                            hint="the registry's storage is damaged or tampered with")
    return data


def push(image: OciImage, reference: Reference) -> str:
    """Push ``image`` to ``reference`` (its tag, or by digest); return the digest the registry serves.

    The registry's digest is read back and compared with the one computed
    here: a registry that rewrote the manifest would break every signature.
    """
    registry = Registry(reference)
    for blob in image.blobs():
        registry.put_blob(blob)
    stored = registry.put_manifest(reference.tag or image.digest, image.manifest)
    served = registry.manifest_digest(reference.tag or image.digest)
    if stored != image.digest or served != image.digest:
        raise RegistryError(f"{reference}: the registry serves {served}, not the pushed {image.digest}",
                            hint="the registry rewrote the manifest; push to a registry that stores it as is")
    return image.digest
