"""Small hand-written images, each failing with the right named violation.

The images are read in memory: ``load_image`` hands the docker-save archive to
the in-memory engine and ``verify_image`` reads it back through the same
export path as a real one, so no daemon is needed (test_images_in_engine.py
covers the round trip through Docker).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from _support import Item, directory, file, hardlink, layer, symlink
from builder import contract
from builder.verify import SCHEMA, VerifyPolicy, Waiver, verify_image
from fakes import FakeEngine

pytestmark = pytest.mark.tools("gcc")  # the probe programs

POLICY = VerifyPolicy(verbs=("migrate",))
LoadImage = Callable[..., str]


def base_layer(programs: dict[str, Path]) -> bytes:
    """A distroless-like runtime base: no shell, sticky /tmp, one hardened library."""
    return layer([
        directory("etc"), file("etc/passwd", ("root:x:0:0:root:/root:/sbin/nologin\n"
                                             f"nonroot:x:{contract.RUN_USER}:nonroot:{contract.RUN_HOME}:/sbin/nologin\n"
                                             ).encode()),
        directory("tmp", 0o1777), directory("usr"), directory("usr/lib"),
        file("usr/lib/libdemo.so", programs["shared-object"].read_bytes(), 0o644),
    ])


def app_layer(programs: dict[str, Path], *extra: Item) -> bytes:
    """The release at /app: the launcher hardlinked at server and the verb, empty dist-certs."""
    return layer([
        directory("app"), directory("app/bin"), directory("app/dist-certs"),
        file("app/bin/server", programs["hardened"].read_bytes(), 0o755),
        hardlink("app/bin/migrate", "app/bin/server"),
        *extra,
    ])


@pytest.fixture
def engine() -> FakeEngine:
    """The in-memory engine, for this module's ``load_image`` and ``verify_image``."""
    return FakeEngine()


def checks_failed(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {v.check for v in report.violations}


def test_a_clean_image_passes(engine, load_image: LoadImage, programs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs)]), POLICY)
    assert report.ok, report.render_text()
    assert {row.path for row in report.elves} == {"/app/bin/server", "/app/bin/migrate", "/usr/lib/libdemo.so"}


def test_a_shell_is_found_by_name_by_link_and_as_a_script(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                          programs: dict[str, Path]) -> None:
    shell = layer([directory("bin"), file("bin/dash", Path("/bin/dash").read_bytes(), 0o755),
                   symlink("bin/sh", "dash"), file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755)])
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs), shell]), POLICY)
    assert {v.path for v in report.violations_of("no-shell")} == {"/bin/dash", "/bin/sh", "/bin/hello"}
    assert checks_failed(report) >= {"no-shell"}


@pytest.mark.parametrize("user", ["", "0", "0:0", "nonroot", "1000"])
def test_running_as_root_or_a_non_numeric_or_other_user_fails(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                              programs: dict[str, Path], user: str) -> None:
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs)], user=user), POLICY)
    assert checks_failed(report) == {"run-user"}


def test_a_setuid_file_fails(engine, load_image: LoadImage, programs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    extra = file("app/bin/helper", programs["hardened"].read_bytes(), 0o4755)
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs, extra)]), POLICY)
    assert [(v.check, v.path) for v in report.violations] == [("no-setuid", "/app/bin/helper")]


def test_a_world_writable_directory_fails(engine, load_image: LoadImage, programs: dict[str, Path]) -> None:  # type: ignore[no-untyped-def]
    extra = directory("app/data", 0o777)
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs, extra)]), POLICY)
    assert [(v.check, v.path) for v in report.violations] == [("no-world-writable", "/app/data")]


def test_a_cookie_deleted_in_a_later_layer_still_fails(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                       programs: dict[str, Path]) -> None:
    baked = layer([directory("app"), directory("app/releases"), file("app/releases/COOKIE", b"A" * 40, 0o400)])
    removed = layer([file("app/releases/.wh.COOKIE", b"")])
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs), baked, removed]), POLICY)
    [violation] = report.violations
    assert (violation.check, violation.path) == ("no-cookie", "/app/releases/COOKIE")
    assert "deleted by a later layer" in violation.detail


def test_a_private_key_deleted_in_a_later_layer_still_fails(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                            programs: dict[str, Path]) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    baked = layer([directory("app"), directory("app/dist"), file("app/dist/node.pem", key)])
    removed = layer([file("app/dist/.wh.node.pem", b"")])
    report = verify_image(engine, load_image([base_layer(programs), app_layer(programs), baked, removed]), POLICY)
    assert [(v.check, v.path) for v in report.violations] == [("no-private-key", "/app/dist/node.pem")]


def test_a_non_pie_binary_fails_and_a_waiver_excuses_it_with_its_reason(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                                        programs: dict[str, Path]) -> None:
    extra = file("app/bin/legacy", programs["no-pie"].read_bytes(), 0o755)
    image = load_image([base_layer(programs), app_layer(programs, extra)])
    report = verify_image(engine, image, POLICY)
    assert [(v.check, v.path) for v in report.violations] == [("pie", "/app/bin/legacy")]

    reason = "vendor tool shipped without PIE; tracked upstream"
    waived = verify_image(engine, image, VerifyPolicy(verbs=("migrate",), waivers=(
        Waiver("/app/bin/legacy", frozenset({"pie"}), reason),)))
    assert waived.ok
    assert reason in waived.render_text()
    assert waived.to_json()["waived"][0]["waiver"]["reason"] == reason


def test_a_verb_that_is_a_copy_not_a_hardlink_fails(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                    programs: dict[str, Path]) -> None:
    app = layer([directory("app"), directory("app/bin"), directory("app/dist-certs"),
                 file("app/bin/server", programs["hardened"].read_bytes(), 0o755),
                 file("app/bin/migrate", programs["hardened"].read_bytes(), 0o755)])
    report = verify_image(engine, load_image([base_layer(programs), app]), POLICY)
    assert [(v.check, v.path) for v in report.violations] == [("hardlinked-entrypoints", "/app/bin/migrate")]


def test_wrong_entrypoint_certificates_in_the_image_and_a_writable_app_fail(  # type: ignore[no-untyped-def]
        engine, load_image: LoadImage, programs: dict[str, Path]) -> None:
    extra = [file("app/dist-certs/dist-key.pem", b"not a key"),
             directory("app/state", 0o755, uid=contract.RUN_UID, gid=contract.RUN_GID)]
    image = load_image([base_layer(programs), app_layer(programs, *extra)], entrypoint=("/bin/sh", "-c", "x"))
    report = verify_image(engine, image, POLICY)
    assert checks_failed(report) == {"entrypoint", "empty-dist-certs", "read-only-app"}


@pytest.mark.tools("erlc")
def test_an_app_module_calling_os_cmd_gets_a_note(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                  programs: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "shelly.erl").write_text("-module(shelly).\n-export([go/0]).\ngo() -> os:cmd(\"ls\").\n")
    subprocess.run(["erlc", "-o", str(tmp_path), str(tmp_path / "shelly.erl")], check=True)
    beam = file("app/lib/hello-0.1.0/ebin/shelly.beam", (tmp_path / "shelly.beam").read_bytes())
    app = app_layer(programs, directory("app/lib"), directory("app/lib/hello-0.1.0"),
                    directory("app/lib/hello-0.1.0/ebin"), beam)
    report = verify_image(engine, load_image([base_layer(programs), app]), POLICY)
    assert report.ok
    [note] = [n for n in report.notes if n.topic == "needs /bin/sh"]
    assert "os:cmd/1" in note.detail and "hello" in note.detail
    assert "os:cmd/1" in report.render_text()


def test_the_json_report_keeps_its_documented_shape(engine, load_image: LoadImage,  # type: ignore[no-untyped-def]
                                                    programs: dict[str, Path]) -> None:
    extra = file("app/bin/legacy", programs["no-pie"].read_bytes(), 0o755)
    data = verify_image(engine, load_image([base_layer(programs), app_layer(programs, extra)]), POLICY).to_json()
    json.dumps(data)  # serialisable as is
    assert data["schema"] == SCHEMA and data["ok"] is False
    assert set(data) == {"schema", "image", "ok", "summary", "policy", "violations", "waived", "notes", "elf"}
    assert data["violations"] == [{"check": "pie", "path": "/app/bin/legacy",
                                   "detail": "ET_EXEC: fixed load address (linked without -pie)"}]
    legacy = next(row for row in data["elf"] if row["path"] == "/app/bin/legacy")
    assert legacy["properties"]["pie"]["status"] == "fail"
    assert set(legacy["properties"]) == {"pie", "relro", "stack-protector", "fortify", "nx-stack", "no-rpath", "cet"}
