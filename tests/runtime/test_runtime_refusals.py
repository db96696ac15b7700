"""The server refuses to boot, fail closed, when its secrets are missing or weak.

Each refusal must be one line on stderr saying what is wrong, a non-zero
exit (the launcher's "refused configuration" code), the VM never started
and so nothing ever served.  Only the one thing under test is wrong in each
case: the other secret is valid.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from builder import contract
from runtime_support import EXIT_REFUSED, RELEASE, Node, NodeSpec, http_get

pytestmark = pytest.mark.docker

CERT_FILES = contract.DIST_CERT_FILES
CONTAINER_USER = (contract.RUN_UID, contract.RUN_GID)


def _refused(node: Node) -> str:
    """Assert the container refused to boot; return its one stderr line."""
    status = node.wait_exit()
    stderr = node.stderr().strip()
    assert status == EXIT_REFUSED, f"exit {status}, expected {EXIT_REFUSED} (refused):\n{node.logs()}"
    assert node.stdout() == "" and "serving HTTP" not in node.logs(), f"the VM started:\n{node.logs()}"
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("server: "), f"expected one 'server: ...' line:\n{stderr}"
    return lines[0]


@pytest.fixture
def node_env(node_ips: dict[str, str], cookie: str) -> dict[str, str]:
    return {"RELEASE_COOKIE": cookie, "POD_IP": node_ips["n5"]}


def test_no_certificates_mounted_is_refused(run_node: Callable[[NodeSpec], Node], example_image: str,
                                            node_ips: dict[str, str], node_env: dict[str, str]) -> None:
    node = run_node(NodeSpec(example_image, node_ips["n5"], None, node_env))
    line = _refused(node)
    assert "/app/dist-certs/dist-cert.pem" in line and "not readable" in line


@pytest.mark.parametrize("missing", CERT_FILES)
def test_each_missing_certificate_file_is_named(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                cluster_certs: Path, tmp_path: Path, node_ips: dict[str, str],
                                                node_env: dict[str, str], missing: str) -> None:
    partial = tmp_path / "certs"
    shutil.copytree(cluster_certs / "n5", partial)
    for path in (partial, *partial.iterdir()):
        shutil.chown(path, *CONTAINER_USER)
    (partial / missing).unlink()
    node = run_node(NodeSpec(example_image, node_ips["n5"], partial, node_env))
    line = _refused(node)
    assert f"/app/dist-certs/{missing}" in line
    assert not any(f"/app/dist-certs/{f}" in line for f in CERT_FILES if f != missing), line


@pytest.mark.parametrize(("cookie_env", "reason"), [
    ({}, "empty or unset"),
    ({"RELEASE_COOKIE": ""}, "empty or unset"),
    ({"RELEASE_COOKIE": "x" * 31}, "shorter"),
    ({"RELEASE_COOKIE": RELEASE}, "shorter"),
    ({"RELEASE_COOKIE": RELEASE, "DIST_COOKIE_MIN_LEN": "5"}, "release name"),
], ids=["unset", "empty", "31-chars", "release-name", "release-name-long-enough"])
def test_weak_cookies_are_refused(run_node: Callable[[NodeSpec], Node], example_image: str, cluster_certs: Path,
                                  node_ips: dict[str, str], cookie_env: dict[str, str], reason: str) -> None:
    ip = node_ips["n5"]
    node = run_node(NodeSpec(example_image, ip, cluster_certs / "n5", {"POD_IP": ip, **cookie_env}))
    line = _refused(node)
    assert "RELEASE_COOKIE" in line and reason in line, line
    weak = cookie_env.get("RELEASE_COOKIE")
    if weak:
        assert weak not in line.replace("RELEASE_COOKIE", ""), "the refusal echoes the cookie"


def test_allow_weak_cookie_boots_with_a_loud_warning(run_node: Callable[[NodeSpec], Node], example_image: str,
                                                     cluster_certs: Path, node_ips: dict[str, str]) -> None:
    ip = node_ips["n6"]
    node = run_node(NodeSpec(example_image, ip, cluster_certs / "n6",
                             {"POD_IP": ip, "RELEASE_COOKIE": "short-local-cookie", "DIST_ALLOW_WEAK_COOKIE": "1"}))
    node.wait_serving()
    warning = [line for line in node.stderr().splitlines() if "DIST_ALLOW_WEAK_COOKIE" in line]
    assert warning and "WARNING" in warning[0], node.logs()
    reply = http_get(ip, "/")
    assert reply is not None and (reply.status, reply.body) == (200, b"hello\n")
