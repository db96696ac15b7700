"""The registry HTTP API (distribution v2), spoken directly.

Pushing through the API rather than ``docker push`` keeps the blobs exactly
as :mod:`builder.oci` wrote them, so the digest the registry serves is the
digest computed here.  Only monolithic uploads and anonymous access are
used: that is what a local ``docker-registry`` and most CI-internal
registries accept.  Registries on the loopback address are spoken to over
plain HTTP, every other one over HTTPS.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message

from builder.errors import RegistryError, UsageError
from builder.oci import Blob, OciImage

_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$")
_REFERENCE = re.compile(
    r"^(?P<registry>[a-zA-Z0-9.-]+(:\d+)?|\[::1\](:\d+)?)/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
    r"(:(?P<tag>[\w][\w.-]{0,127}))?(@(?P<digest>sha256:[0-9a-f]{64}))?$")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json")
TIMEOUT = 300


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
        started = self._send("POST", "/blobs/uploads/", ok=(202,))
        location = urllib.parse.urljoin(self.reference.base_url + "/", started.headers["Location"])
        separator = "&" if "?" in location else "?"
        self._send("PUT", f"{location}{separator}digest={blob.digest}", blob.data,
                   {"Content-Type": "application/octet-stream"}, ok=(201,))

    def get_blob(self, digest: str) -> bytes:
        return self._send("GET", f"/blobs/{digest}", ok=(200,)).body

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
        """The manifest ``reference``, or None when the registry has no such manifest."""
        response = self._send("GET", f"/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}, ok=(200, 404))
        return response.body if response.status == 200 else None

    def manifest_digest(self, reference: str) -> str | None:
        """The digest the registry serves for ``reference``, or None when it has no such manifest."""
        response = self._send("HEAD", f"/manifests/{reference}", headers={"Accept": MANIFEST_TYPES},
                              ok=(200, 404))
        return response.headers.get("Docker-Content-Digest") if response.status == 200 else None

    # -- transport ----------------------------------------------------------------
    def _send(self, method: str, path: str, data: bytes | None = None,
              headers: dict[str, str] | None = None, *, ok: tuple[int, ...]) -> Response:
        url = path if "://" in path else self.reference.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                response = Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as exc:
            response = Response(exc.code, exc.headers, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(f"cannot reach the registry {self.reference.registry}: {exc}",
                                hint="is it running? (docs/supply-chain.md shows how to start a local one)") from exc
        if response.status not in ok:
            raise RegistryError(
                f"{method} {url}: the registry answered {response.status}: "
                f"{response.body[:300].decode(errors='replace').strip()}",
                hint="registries that need a login are not supported yet; use one that accepts "
                     "anonymous pushes from CI" if response.status in (401, 403) else None)
        return response


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
