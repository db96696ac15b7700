"""Unit tests for builder.certs: real keys, real chain verification."""

from __future__ import annotations

import datetime
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from builder import contract
from builder.certs import NodeSpec, write_dist_certs, write_foreign_node
from builder.errors import CertificateError

CONTAINER_USER = (contract.RUN_UID, contract.RUN_GID)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _store(ca_pem: Path) -> PolicyBuilder:
    return PolicyBuilder().store(Store([_cert(ca_pem)])).time(datetime.datetime.now(datetime.UTC))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_layout_is_one_directory_per_node_and_the_ca_apart(tmp_path: Path) -> None:
    written = write_dist_certs(tmp_path / "certs", ["node-1", "node-2"])
    relative = [p.relative_to(tmp_path / "certs").as_posix() for p in written]
    assert relative == [
        "ca/ca-cert.pem", "ca/ca-key.pem",
        "node-1/dist-ca.pem", "node-1/dist-cert.pem", "node-1/dist-key.pem",
        "node-2/dist-ca.pem", "node-2/dist-cert.pem", "node-2/dist-key.pem",
    ]
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == ["ca", "node-1", "node-2"]


def test_keys_are_0600_and_the_ca_directory_private(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    write_dist_certs(root, ["a"])
    assert _mode(root / "a" / "dist-key.pem") == 0o600
    assert _mode(root / "ca" / "ca-key.pem") == 0o600
    assert _mode(root / "ca") == 0o700
    assert _mode(root / "a" / "dist-cert.pem") == 0o644
    assert not list(root.rglob(".*")), "temporary files were left behind"


def test_node_certificate_chains_to_the_ca_as_server_and_as_client(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    write_dist_certs(root, ["a=10.0.0.2,a.cluster.internal"])
    node = root / "a"
    assert (node / "dist-ca.pem").read_bytes() == (root / "ca" / "ca-cert.pem").read_bytes()
    leaf = _cert(node / "dist-cert.pem")
    for name in (x509.DNSName("a"), x509.DNSName("a.cluster.internal"),
                 x509.IPAddress(ipaddress.ip_address("10.0.0.2"))):
        chain = _store(node / "dist-ca.pem").build_server_verifier(name).verify(leaf, [])
        assert chain[-1] == _cert(root / "ca" / "ca-cert.pem")
    client = _store(node / "dist-ca.pem").build_client_verifier().verify(leaf, [])
    assert client.chain[0] == leaf


def test_ip_hosts_are_also_dns_names_because_otp_checks_the_host_part_as_a_dns_id(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "certs", ["a=10.0.0.2"])
    san = _cert(tmp_path / "certs" / "a" / "dist-cert.pem").extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a", "10.0.0.2"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.2")]


def test_node_certificate_is_a_leaf_for_both_tls_roles(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "certs", ["a"])
    leaf = _cert(tmp_path / "certs" / "a" / "dist-cert.pem")
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_key_belongs_to_the_certificate(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "certs", ["a"])
    node = tmp_path / "certs" / "a"
    key = serialization.load_pem_private_key((node / "dist-key.pem").read_bytes(), password=None)
    assert key.public_key() == _cert(node / "dist-cert.pem").public_key()


def test_each_call_makes_a_new_ca_so_clusters_do_not_trust_each_other(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "one", ["a"])
    write_dist_certs(tmp_path / "two", ["a"])
    leaf = _cert(tmp_path / "two" / "a" / "dist-cert.pem")
    with pytest.raises(VerificationError):
        _store(tmp_path / "one" / "a" / "dist-ca.pem").build_client_verifier().verify(leaf, [])


def test_foreign_node_trusts_the_cluster_ca_but_is_not_signed_by_it(tmp_path: Path) -> None:
    write_dist_certs(tmp_path / "cluster", ["a"])
    cluster_ca = tmp_path / "cluster" / "ca" / "ca-cert.pem"
    written = write_foreign_node(tmp_path / "intruder", "x=10.0.0.9", cluster_ca)
    node = tmp_path / "intruder" / "x"
    assert [p.name for p in written] == ["dist-ca.pem", "dist-cert.pem", "dist-key.pem"]
    assert (node / "dist-ca.pem").read_bytes() == cluster_ca.read_bytes()
    assert _mode(node / "dist-key.pem") == 0o600
    leaf = _cert(node / "dist-cert.pem")
    with pytest.raises(VerificationError):
        _store(cluster_ca).build_client_verifier().verify(leaf, [])
    with pytest.raises(VerificationError):
        _store(cluster_ca).build_server_verifier(x509.DNSName("x")).verify(leaf, [])
    assert not (tmp_path / "intruder" / "ca").exists(), "the foreign CA key must not be kept"


def test_foreign_node_needs_a_readable_ca(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="cannot read a CA certificate"):
        write_foreign_node(tmp_path / "intruder", "x", tmp_path / "missing.pem")


def test_existing_directory_is_never_overwritten_without_force(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    write_dist_certs(root, ["a"])
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(CertificateError, match="not empty") as refused:
        write_dist_certs(root, ["a"])
    assert "--force" in (refused.value.hint or "")
    assert refused.value.exit_code == 8
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_unrelated_files_also_block_writing_without_force(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CertificateError, match="refusing to overwrite"):
        write_dist_certs(tmp_path, ["a"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_force_replaces_the_set_and_resets_a_loosened_key_mode(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    write_dist_certs(root, ["a"])
    old_ca = (root / "ca" / "ca-cert.pem").read_bytes()
    (root / "a" / "dist-key.pem").chmod(0o644)
    write_dist_certs(root, ["a"], force=True)
    assert (root / "ca" / "ca-cert.pem").read_bytes() != old_ca
    assert _mode(root / "a" / "dist-key.pem") == 0o600
    leaf = _cert(root / "a" / "dist-cert.pem")
    _store(root / "a" / "dist-ca.pem").build_client_verifier().verify(leaf, [])


def test_an_empty_existing_directory_is_used(tmp_path: Path) -> None:
    written = write_dist_certs(tmp_path, ["a"])
    assert tmp_path / "a" / "dist-key.pem" in written


@pytest.mark.tools("root")
def test_owner_lets_the_container_user_read_its_key(tmp_path: Path) -> None:
    root = tmp_path / "certs"
    write_dist_certs(root, ["a"], owner=CONTAINER_USER)
    for path in [root / "a", root / "a" / "dist-key.pem", root / "ca" / "ca-key.pem"]:
        assert (path.stat().st_uid, path.stat().st_gid) == CONTAINER_USER, (
            f"{path} not owned by {contract.RUN_UID} (this test needs root, as the Docker tests do)")


@pytest.mark.parametrize("bad", [["ca"], ["../x"], [""], ["a/b"], ["a", "a"], [], "node-1", ["a=not a host"]])
def test_bad_node_lists_are_refused_before_writing(tmp_path: Path, bad: object) -> None:
    with pytest.raises(CertificateError):
        write_dist_certs(tmp_path / "certs", bad)  # type: ignore[arg-type]
    assert not (tmp_path / "certs").exists()


def test_node_spec_reads_name_and_hosts() -> None:
    assert NodeSpec.parse("a=10.0.0.2, a.svc") == NodeSpec("a", ("10.0.0.2", "a.svc"))
    assert NodeSpec.parse("node-1") == NodeSpec("node-1", ())
