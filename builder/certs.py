"""Development certificates for TLS Erlang distribution.

The image refuses to boot without ``/app/dist-certs/{dist-cert.pem,
dist-key.pem,dist-ca.pem}`` and its ``inet_tls.config`` demands peer
verification both ways, so a developer needs a CA and one certificate per node
before the image runs at all.  This module writes that set in one step::

    <dir>/ca/ca-cert.pem, ca-key.pem         the CA (key never mounted anywhere)
    <dir>/<node>/dist-cert.pem, dist-key.pem, dist-ca.pem
                                             one directory per node, mounted
                                             read-only at /app/dist-certs

Production brings its own certificates (a Kubernetes Secret mounted at
``/app/dist-certs``); these are for local runs and tests only.

Node certificates carry both serverAuth and clientAuth because in Erlang
distribution every node is a TLS server to some peers and a client to others.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from builder import contract
from builder.errors import CertificateError

CA_DIR = "ca"
CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
#: The nodes ``build-image dist-certs`` writes when none is named: a two-node development cluster.
DEFAULT_NODES = ("node-1", "node-2")

_CA_DAYS = 3650
_NODE_DAYS = 825
# Tolerate clocks a little behind ours (containers, VMs) at first use.
_BACKDATE = datetime.timedelta(minutes=5)
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_KEY_MODE = 0o600
_PUBLIC_MODE = 0o644
_CA_DIR_MODE = 0o700
_NODE_DIR_MODE = 0o755


@dataclass(frozen=True)
class NodeSpec:
    """One node's certificate request: a name and the hosts it answers as.

    Written on the command line as ``NAME`` or ``NAME=HOST[,HOST...]``.  The
    name becomes the directory and the certificate's common name; every host
    goes into subjectAltName.  An IP address is written both as an iPAddress
    and as a dNSName entry, because Erlang's TLS distribution sends the host
    part of ``app@10.0.0.2`` as the server name and checks it as a DNS id.
    """

    name: str
    hosts: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> NodeSpec:
        name, _, host_list = spec.partition("=")
        hosts = tuple(h.strip() for h in host_list.split(",") if h.strip())
        node = cls(name=name.strip(), hosts=hosts)
        node.validate()
        return node

    def validate(self) -> None:
        if not _NODE_NAME.fullmatch(self.name) or self.name == CA_DIR or ".." in self.name:
            raise CertificateError(
                f"node name {self.name!r} cannot be a certificate directory",
                hint="use letters, digits, '.', '_' or '-' (at most 63, not 'ca'), "
                "optionally followed by =HOST,HOST for subjectAltName",
            )
        for host in self.hosts:
            if not _is_ip(host) and not (_DNS_NAME.fullmatch(host) and len(host) <= 253):
                raise CertificateError(
                    f"host {host!r} of node {self.name!r} is neither an IP address nor a DNS name",
                    hint="write hosts as NAME=10.0.0.2,app.example.internal",
                )


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA that signs node certificates (kept in memory while writing)."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls, common_name: str) -> CertificateAuthority:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                    crl_sign=True, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate=certificate, key=key)

    def issue(self, node: NodeSpec) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """A key and a certificate for ``node``, good as TLS server and client."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node.name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=_NODE_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectAlternativeName(_alt_names(node)), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return certificate, key


def write_dist_certs(
    directory: Path,
    nodes: Sequence[str] = DEFAULT_NODES,
    force: bool = False,
    *,
    owner: tuple[int, int] | None = None,
) -> list[Path]:
    """Write a fresh development CA and one certificate set per node.

    ``nodes`` are :meth:`NodeSpec.parse` strings (``NAME`` or
    ``NAME=HOST,...``).  A non-empty ``directory`` is refused unless ``force``;
    with ``force`` only the files this function writes are replaced.
    ``owner`` (uid, gid) chowns everything so a container user such as
    ``contract.RUN_UID`` can read its bind-mounted key (needs root).  Returns the written
    files, sorted.
    """
    specs = _parse_nodes(nodes)
    _claim(directory, force)
    ca = CertificateAuthority.create(f"build-image development CA ({directory.resolve().name})")
    written = _write_ca(directory / CA_DIR, ca, owner)
    ca_pem = _pem(ca.certificate)
    for spec in specs:
        written += _write_node(directory / spec.name, ca, spec, ca_pem, owner)
    return sorted(written)


def write_foreign_node(
    directory: Path,
    node: str,
    trusted_ca: Path,
    force: bool = False,
    *,
    owner: tuple[int, int] | None = None,
) -> list[Path]:
    """Write one node set whose certificate comes from a fresh, unrelated CA.

    The node *trusts* ``trusted_ca`` (its ``dist-ca.pem`` is a copy of it),
    so it models an intruder who stole the cookie and the cluster's public CA
    certificate but cannot get a certificate signed by it: the cluster must
    still refuse it, in both directions.  The foreign CA's key is discarded.
    """
    spec = NodeSpec.parse(node)
    try:
        ca_pem = trusted_ca.read_bytes()
        x509.load_pem_x509_certificate(ca_pem)
    except (OSError, ValueError) as exc:
        raise CertificateError(
            f"cannot read a CA certificate from {trusted_ca}: {exc}",
            hint="pass the cluster's dist-ca.pem (or ca/ca-cert.pem) written by `build-image dist-certs`",
        ) from exc
    _claim(directory, force)
    foreign = CertificateAuthority.create("build-image foreign CA (not trusted by the cluster)")
    return sorted(_write_node(directory / spec.name, foreign, spec, ca_pem, owner))


def _parse_nodes(nodes: Sequence[str]) -> list[NodeSpec]:
    if isinstance(nodes, str) or not nodes:
        raise CertificateError(
            f"expected a list of node names, got {nodes!r}",
            hint="name at least one node, e.g. --node node-1 --node node-2",
        )
    specs = [NodeSpec.parse(n) for n in nodes]
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CertificateError(
            f"node names repeat: {', '.join(duplicates)}",
            hint="give every node its own name; each gets its own directory",
        )
    return specs


def _claim(directory: Path, force: bool) -> None:
    """Refuse to write into a non-empty directory unless forced."""
    if directory.exists() and not directory.is_dir():
        raise CertificateError(
            f"{directory} exists and is not a directory",
            hint="choose another path for the certificates",
        )
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise CertificateError(
            f"{directory} already exists and is not empty; refusing to overwrite certificates",
            hint="choose a new directory, or pass --force to replace the CA and node certificates in it",
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CertificateError(f"cannot create {directory}: {exc.strerror}") from exc


def _write_ca(ca_dir: Path, ca: CertificateAuthority, owner: tuple[int, int] | None) -> list[Path]:
    _make_dir(ca_dir, _CA_DIR_MODE, owner)
    return [
        _write(ca_dir / CA_CERT, _pem(ca.certificate), _PUBLIC_MODE, owner),
        _write(ca_dir / CA_KEY, _key_pem(ca.key), _KEY_MODE, owner),
    ]


def _write_node(
    node_dir: Path,
    ca: CertificateAuthority,
    spec: NodeSpec,
    trusted_ca_pem: bytes,
    owner: tuple[int, int] | None,
) -> list[Path]:
    certificate, key = ca.issue(spec)
    _make_dir(node_dir, _NODE_DIR_MODE, owner)
    return [
        _write(node_dir / contract.DIST_CERT, _pem(certificate), _PUBLIC_MODE, owner),
        _write(node_dir / contract.DIST_KEY, _key_pem(key), _KEY_MODE, owner),
        _write(node_dir / contract.DIST_CA, trusted_ca_pem, _PUBLIC_MODE, owner),
    ]


def _make_dir(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    try:
        path.mkdir(exist_ok=True)
        os.chmod(path, mode)
        if owner is not None:
            os.chown(path, *owner)
    except OSError as exc:
        raise CertificateError(
            f"cannot prepare {path}: {exc.strerror}",
            hint="check the permissions of the parent directory (changing the owner needs root)",
        ) from exc


def _write(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None) -> Path:
    """Write ``data`` with ``mode`` from the first byte, replacing atomically.

    The temporary file is created 0600 and renamed over the target, so a
    key is never readable by others, not even for an instant, and a
    pre-existing file's looser mode is not inherited.
    """
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                os.fchmod(out.fileno(), mode)
                if owner is not None:
                    os.fchown(out.fileno(), *owner)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CertificateError(
            f"cannot write {path}: {exc.strerror}",
            hint="check free space and permissions (changing the owner needs root)",
        ) from exc
    return path


def _alt_names(node: NodeSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(node.name)]
    for host in node.hosts:
        if _is_ip(host):
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        names.append(x509.DNSName(host))
    return list(dict.fromkeys(names))


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
