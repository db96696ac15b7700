"""An offline Hex repository for tests: the fixture packages, signed, served over HTTP.

``shared/fixtures/hex`` (beside the repository; ``BUILD_IMAGE_HEX_FIXTURES``
overrides) holds the Hex client's source and the package tarballs of a
Phoenix app.  :func:`build_repository` makes a repository of them with a
fresh key (``mix hex.registry build``, in a container of the Elixir stage),
and :func:`serve` serves it with OTP's own httpd on a private Docker
network, where the deps stage fetches from it: nothing leaves the machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hygiene import LABELS
from runtime_support import PrivateNetwork

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("BUILD_IMAGE_HEX_FIXTURES", REPO.parent / "shared" / "fixtures" / "hex"))
HEX_VERSION = "2.5.1"
HEX_SHA256 = "9b71d06305d7954802883feddc63488a9ca929c03929f3fdd49518b459f1f169"
PORT = 8000


@dataclass(frozen=True)
class HexRepository:
    url: str
    public_key: Path
    network: str
    client: Path  # the Hex client's source tarball


def fixtures_or_skip() -> Path:
    """The fixtures directory; without it the Hex tests skip and say why (in CI they fail)."""
    if (FIXTURES / "hex-2.5.1.tar.gz").is_file() and (FIXTURES / "packages").is_dir():
        return FIXTURES
    reason = (f"the offline Hex fixtures are not at {FIXTURES} (a clone without shared/?): the Hex and "
              "Phoenix tests need them; set BUILD_IMAGE_HEX_FIXTURES to their directory")
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):  # tests/conftest.py's in_ci()
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def build_repository(client: docker.DockerClient, elixir_image: str, fixtures: Path, work: Path,
                     extra: Mapping[str, bytes] | None = None) -> Path:
    """``work/public``: the packages and a registry signed with a new key (``public/public_key``).

    ``extra`` adds package tarballs of the tests' own (file name -> :func:`hex_tarball` bytes).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (work / "priv.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                                      serialization.NoEncryption()))
    shutil.copytree(fixtures / "packages", work / "public" / "tarballs")
    for name, data in (extra or {}).items():
        (work / "public" / "tarballs" / name).write_bytes(data)
    script = (f"set -e; tar -xzf /fixtures/hex-{HEX_VERSION}.tar.gz -C /tmp; cd /tmp/hex-{HEX_VERSION}; "
              "mix archive.build -o /tmp/hex.ez >/dev/null; mix archive.install /tmp/hex.ez --force >/dev/null; "
              "cd /work; mix hex.registry build public --name=hexpm --private-key=priv.pem; "
              "chmod -R a+rX public")
    client.containers.run(
        elixir_image, ["sh", "-c", script], remove=True, working_dir="/", labels=LABELS,
        environment={"MIX_ENV": "prod", "MIX_HOME": "/tmp/mix", "HEX_HOME": "/tmp/hex"},
        volumes={str(fixtures): {"bind": "/fixtures", "mode": "ro"}, str(work): {"bind": "/work", "mode": "rw"}})
    assert (work / "public" / "public_key").is_file(), "mix hex.registry build wrote no public_key"
    return work / "public"


def serve(client: docker.DockerClient, image: str, network: PrivateNetwork, public: Path) -> tuple[str, str]:
    """Serve ``public`` read-only at a fixed address of ``network``; returns (URL, container id)."""
    ip = network.allocate()
    httpd = (f"inets:start(), {{ok, _}} = inets:start(httpd, [{{port, {PORT}}}, {{server_name, \"hex\"}}, "
             "{server_root, \"/tmp\"}, {document_root, \"/srv/public\"}, {bind_address, any}]), "
             "receive after infinity -> ok end.")
    container = client.containers.create(
        image, ["erl", "-noshell", "-eval", httpd], working_dir="/", labels=LABELS,
        volumes={str(public): {"bind": "/srv/public", "mode": "ro"}}, network=network.name)
    network.network.disconnect(container)
    network.network.connect(container, ipv4_address=ip)
    container.start()
    return f"http://{ip}:{PORT}", container.id


# -- a package of the tests' own -------------------------------------------------

_EPOCH = 946_684_800  # 2000-01-01, as the fixture packages: the same sources give the same checksums


@dataclass(frozen=True)
class HexPackage:
    """A package tarball as a Hex repository serves it, with the two checksums mix.lock records."""

    name: str
    version: str
    managers: tuple[str, ...]
    tarball: bytes
    inner: str  # sha256 of VERSION, metadata.config and contents.tar.gz, concatenated

    @property
    def outer(self) -> str:
        """sha256 of the whole tarball (what the registry and mix.lock pin)."""
        return hashlib.sha256(self.tarball).hexdigest()

    def lock_line(self) -> str:
        managers = ", ".join(f":{m}" for m in self.managers)
        return (f'  "{self.name}": {{:hex, :{self.name}, "{self.version}", "{self.inner}", [{managers}], [], '
                f'"hexpm", "{self.outer}"}},\n')


def hex_tarball(source: Path, name: str, version: str, build_tools: tuple[str, ...]) -> HexPackage:
    """Package ``source`` the way ``mix hex.build`` does (tarball format 3), deterministically.

    Made here rather than with a Hex client so that the metadata can say what
    the tests need (``build_tools: ["rebar3"]`` for a package with no mix.exs).
    """
    files = sorted(p for p in source.rglob("*") if p.is_file())
    relative = [p.relative_to(source).as_posix() for p in files]
    contents = _gzip(_tar({rel: path.read_bytes() for rel, path in zip(relative, files, strict=True)}))
    metadata = "".join(f"{{{_term(key)},{_term(value)}}}.\n" for key, value in (
        ("name", name), ("version", version), ("app", name), ("description", f"{name}, for build-image's tests"),
        ("licenses", ["Apache-2.0"]), ("requirements", []), ("files", relative), ("build_tools", list(build_tools)),
    )).encode()
    inner = hashlib.sha256(b"3" + metadata + contents).hexdigest()
    tarball = _tar({"VERSION": b"3", "CHECKSUM": inner.upper().encode(), "metadata.config": metadata,
                    "contents.tar.gz": contents})
    return HexPackage(name, version, tuple(build_tools), tarball, inner)


def _term(value: str | list[str]) -> str:
    """An Erlang term of binaries, as metadata.config holds them."""
    if isinstance(value, list):
        return "[" + ",".join(_term(item) for item in value) + "]"
    return '<<"' + value.replace("\\", "\\\\").replace('"', '\\"') + '">>'


def _tar(members: Mapping[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), _EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=_EPOCH)
