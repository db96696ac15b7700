"""The root filesystem ``build-image systemd`` writes: the image's files, and nothing outside the tree.

Images are hand-written layers in the ``docker save`` format (the verifier's
helpers), served by the in-memory engine, so entries Docker would never
build (traversal names, devices, links out of the root) can be tried.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from _support import Item, directory, file, hardlink, layer, save_archive, symlink
from builder.errors import ImageUnreadable, UsageError
from builder.rootfs import MOUNT_POINTS, add_mount_points, export_rootfs
from fakes import FakeEngine

TAG = "rootfs-test:latest"


def engine_with(*layers: bytes, env: tuple[str, ...] = ()) -> FakeEngine:
    engine = FakeEngine()
    archive = save_archive(list(layers), TAG, env=env)
    engine.archives[TAG] = archive
    return engine


def base() -> bytes:
    return layer([
        directory("app"), directory("app/bin"),
        file("app/bin/server", b"\x7fELF launcher", 0o755),
        hardlink("app/bin/check", "app/bin/server"),
        directory("tmp", 0o1777),
        symlink("lib64", "usr/lib64"), directory("usr"), directory("usr/lib64"),
        file("etc/passwd", b"root:x:0:0::/root:/sbin/nologin\n", 0o644),
    ])


def test_layers_are_applied_in_order_with_modes_links_and_whiteouts(tmp_path: Path) -> None:
    upper = layer([
        file("etc/.wh.passwd", b""),
        directory("app/bin"), file("app/bin/.wh..wh..opq", b""), file("app/bin/server", b"new", 0o750),
        file("app/sbom.json", b"{}", 0o640),
    ])
    root = tmp_path / "rootfs"
    run = export_rootfs(engine_with(base(), upper, env=("LANG=C.UTF-8", "RELEASE_TMP=/tmp")), TAG, root,
                        owners=False)
    assert not (root / "etc/passwd").exists()
    assert sorted(p.name for p in (root / "app/bin").iterdir()) == ["server"]  # opaque: check is gone
    assert (root / "app/bin/server").read_bytes() == b"new"
    assert stat.S_IMODE((root / "app/bin/server").stat().st_mode) == 0o750
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(root / "lib64") == "usr/lib64"
    assert (root / "app/bin").stat().st_mtime == 0  # the layer's time, though files were written into it
    assert run.env == (("LANG", "C.UTF-8"), ("RELEASE_TMP", "/tmp"))
    assert run.entrypoint == ("/app/bin/server",)


def test_hard_links_stay_one_inode(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    export_rootfs(engine_with(base()), TAG, root, owners=False)
    assert (root / "app/bin/check").stat().st_ino == (root / "app/bin/server").stat().st_ino


@pytest.mark.parametrize(("items", "reason"), [
    ([file("/etc/shadow", b"x")], "absolute path"),
    ([file("app/../../escape", b"x")], "'..' in the path"),
    ([symlink("app/up", "../../..")], "link escapes the root"),
    ([symlink("app/etc", "/etc"), file("app/etc/owned", b"x")], "beneath the symlink"),
    ([hardlink("app/shadow", "../etc/shadow")], "'..' in the path"),
    ([hardlink("app/nothing", "app/missing")], "not a file in the image"),
    ([Item("app/null", "chr")], "character device"),
])
def test_a_hostile_entry_stops_the_export_and_nothing_is_written_outside(
        tmp_path: Path, items: list[Item], reason: str) -> None:
    hostile = layer([directory("app"), *items])
    with pytest.raises(ImageUnreadable, match=reason):
        export_rootfs(engine_with(hostile), TAG, tmp_path / "out" / "rootfs", owners=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not (tmp_path / "escape").exists()


def test_an_existing_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    with pytest.raises(UsageError, match="already exists"):
        export_rootfs(engine_with(base()), TAG, tmp_path / "rootfs", owners=False)


def test_the_spool_is_removed(tmp_path: Path) -> None:
    export_rootfs(engine_with(base()), TAG, tmp_path / "rootfs", owners=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rootfs"]


def test_mount_points_are_made_and_a_symlinked_one_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    export_rootfs(engine_with(base()), TAG, root, owners=False)
    made = add_mount_points(root, MOUNT_POINTS)
    assert {p.relative_to(root).as_posix() for p in made} == {"dev", "proc", "sys", "run", "var", "var/tmp"}
    (root / "srv").symlink_to("/")
    with pytest.raises(ImageUnreadable, match="symlink"):
        add_mount_points(root, ["srv/x"])


@pytest.mark.tools("root")
def test_owners_are_kept(tmp_path: Path) -> None:
    owned = layer([directory("app", uid=0, gid=0), file("app/data", b"x", 0o600, uid=65532, gid=65532),
                   symlink("app/link", "data")])
    root = tmp_path / "rootfs"
    export_rootfs(engine_with(owned), TAG, root)
    facts = (root / "app/data").stat()
    assert (facts.st_uid, facts.st_gid) == (65532, 65532)
    assert (root / "app/link").lstat().st_uid == 0


def test_a_corrupt_archive_is_unreadable(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.archives[TAG] = b"not a tar" * 100
    with pytest.raises(ImageUnreadable):
        export_rootfs(engine, TAG, tmp_path / "rootfs", owners=False)

