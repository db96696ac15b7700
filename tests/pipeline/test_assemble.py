"""The assembler's choices, checked without an engine: what goes in, how layers are made."""

from __future__ import annotations

import dataclasses
import io
import tarfile
from pathlib import Path

import pytest

from builder import assemble, contract
from builder import config as config_module
from builder.errors import BuildFailed
from fakes import FakeEngine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"


def _members(layer: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as archive:
        return archive.getmembers()


@pytest.fixture(scope="module")
def example() -> config_module.Config:
    return config_module.load(EXAMPLE)


@pytest.mark.parametrize("name", [
    "bin/hello", "bin/hello.bat", "releases/0.1.0/elixir", "releases/0.1.0/iex", "releases/0.1.0/env.sh",
    "releases/0.1.0/remote.vm.args", "releases/COOKIE", "erts-15.2.7/bin/erl", "erts-15.2.7/bin/start",
    "erts-15.2.7/bin/escript", "erts-15.2.7/bin/erlc", "erts-15.2.7/bin/run_erl", "erts-15.2.7/include/erl_nif.h",
])
def test_scripts_tools_and_secrets_stay_out(example: config_module.Config, name: str) -> None:
    assert not assemble._keep(name, example)


@pytest.mark.parametrize("name", [
    "erts-15.2.7/bin/beam.smp", "erts-15.2.7/bin/erlexec", "erts-15.2.7/bin/epmd",
    "erts-15.2.7/bin/erl_child_setup", "erts-15.2.7/bin/inet_gethost", "releases/0.1.0/start.boot",
    "releases/0.1.0/sys.config", "releases/0.1.0/vm.args", "releases/start_erl.data",
    "lib/crypto-5.5.3/priv/lib/crypto.so", "lib/hello-0.1.0/ebin/hello.app",
])
def test_what_a_node_needs_stays_in(example: config_module.Config, name: str) -> None:
    assert assemble._keep(name, example)


def test_epmdless_images_carry_no_epmd(example: config_module.Config) -> None:
    epmdless = dataclasses.replace(example, launcher=dataclasses.replace(example.launcher, epmdless=True))
    assert not assemble._keep("erts-15.2.7/bin/epmd", epmdless)


def test_tls_options_demand_mutual_verification() -> None:
    text = assemble.tls_options("/app/dist-certs")
    server, client = text.split("{client,")
    assert "{verify, verify_peer}" in server and "{fail_if_no_peer_cert, true}" in server
    assert "{verify, verify_peer}" in client
    for name in ("dist-cert.pem", "dist-key.pem", "dist-ca.pem"):
        assert f'"/app/dist-certs/{name}"' in server and f'"/app/dist-certs/{name}"' in client
    assert text.rstrip().endswith("].")


def entry(name: str, data: bytes | None = b"x", mode: int = 0o664, mtime: int = 2_000_000_000,
          uid: int = 1000) -> assemble.Entry:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid, info.uname = mode, mtime, uid, uid, "someone"
    if data is None:
        info.type = tarfile.DIRTYPE
    else:
        info.size = len(data)
    return assemble.Entry(info, data)


def test_layers_are_sorted_clamped_owned_by_root_and_not_writable() -> None:
    layer = assemble._layer([entry("app/b"), entry("app", None, mode=0o777), entry("app/a", mtime=5)],
                            epoch=1_000, keep_owner=False)
    members = _members(layer)
    assert [m.name for m in members] == ["app", "app/a", "app/b"]
    assert [m.mtime for m in members] == [1_000, 5, 1_000]
    assert all(m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    assert all(not m.mode & 0o022 for m in members)


def test_sticky_tmp_and_the_run_user_home_survive_in_the_base_layer() -> None:
    layer = assemble._layer([entry("tmp", None, mode=0o1777, uid=0), entry("home/nonroot", None, mode=0o700,
                                                                           uid=contract.RUN_UID)],
                            epoch=1_000, keep_owner=True)
    members = {m.name: m for m in _members(layer)}
    assert members["tmp"].mode == 0o1777
    assert members[contract.RUN_HOME.lstrip("/")].uid == contract.RUN_UID


def test_the_same_entries_give_the_same_bytes() -> None:
    make = lambda: assemble._layer([entry("a"), entry("b", b"y")], epoch=1_000, keep_owner=False)  # noqa: E731
    assert make() == make()


def test_save_archive_is_deterministic_and_names_the_tag(example: config_module.Config, tmp_path: Path) -> None:
    layer = assemble._layer([entry("a")], epoch=1_000, keep_owner=False)
    first = assemble._write_save_archive(tmp_path / "1.tar", example, "hello:latest", [layer], {"k": "v"})
    second = assemble._write_save_archive(tmp_path / "2.tar", example, "hello:latest", [layer], {"k": "v"})
    assert first == second and first.startswith("sha256:")
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()
    with tarfile.open(tmp_path / "1.tar") as archive:
        manifest = archive.extractfile("manifest.json").read().decode()  # type: ignore[union-attr]
    assert '"RepoTags": ["hello:latest"]' in manifest


@pytest.mark.parametrize(("name", "link", "kind"), [
    ("../x", "", tarfile.REGTYPE),
    ("a/../../x", "", tarfile.REGTYPE),
    ("lib/l", "../../../etc/shadow", tarfile.SYMTYPE),
    ("dev/null", "", tarfile.CHRTYPE),
])
def test_hostile_stage_entries_are_refused(name: str, link: str, kind: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    with pytest.raises(BuildFailed, match=r"escapes|device"):
        assemble._vet(info, name, "stage")


def test_absolute_symlinks_inside_a_root_filesystem_are_read_as_they_are() -> None:
    target = "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    tree = io.BytesIO()
    with tarfile.open(fileobj=tree, mode="w") as archive:
        for name in ("rootfs", "rootfs/lib64"):
            archive.addfile(entry(name, None).info)
        link = tarfile.TarInfo("rootfs/lib64/ld-linux-x86-64.so.2")
        link.type, link.linkname = tarfile.SYMTYPE, target
        archive.addfile(link)
    engine = FakeEngine(trees={("runtime-image", "/rootfs"): tree.getvalue()})
    entries = assemble._read_tree(engine, "runtime-image", "/rootfs", "rootfs")
    assert [(e.info.name, e.info.linkname) for e in entries] == [("lib64", ""), ("lib64/ld-linux-x86-64.so.2", target)]


def test_hardlinks_follow_their_target_so_the_engine_can_make_them() -> None:
    link = tarfile.TarInfo("app/bin/check")
    link.type, link.linkname = tarfile.LNKTYPE, "app/bin/server"
    layer = assemble._layer([assemble.Entry(link), entry("app/bin/server"), entry("app/bin/zz")],
                            epoch=1_000, keep_owner=False)
    names = [m.name for m in _members(layer)]
    assert names == ["app/bin/server", "app/bin/check", "app/bin/zz"]
