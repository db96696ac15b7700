"""Reading layers: whiteouts give the final filesystem; hostile entries are refused, never followed."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from _support import Item, directory, file, hardlink, layer, save_archive, symlink
from builder.errors import ImageUnreadable
from builder.verify.imagefs import ImageContents, read_image

# Any ELF file will do: the interpreter running the tests is one.
AN_ELF = Path(sys.executable).resolve().read_bytes()


def read(layers: list[bytes], dump_dir: Path | None = None) -> ImageContents:
    return read_image(io.BytesIO(save_archive(layers, "test/read:latest")), "test/read:latest", dump_dir)


def test_layers_apply_in_order_with_whiteouts_and_opaque_directories() -> None:
    base = layer([directory("app"), file("app/a", b"1"), file("app/b", b"2"),
                  directory("app/cache"), file("app/cache/x", b"3"), directory("etc"), file("etc/motd", b"hi")])
    top = layer([file("app/.wh.a", b""), file("app/cache/.wh..wh..opq", b""),
                 file("app/cache/y", b"4"), file("etc/motd", b"bye", mode=0o600)])
    files = read([base, top]).files
    assert "/app/a" not in files
    assert "/app/b" in files
    assert "/app/cache/x" not in files and "/app/cache/y" in files
    assert files["/etc/motd"].mode == 0o600 and files["/etc/motd"].layer == 1


def test_whiteout_of_a_directory_removes_everything_below_it() -> None:
    base = layer([directory("opt"), directory("opt/tool"), file("opt/tool/bin", b"x")])
    files = read([base, layer([file("opt/.wh.tool", b"")])]).files
    assert not [p for p in files if p.startswith("/opt/tool")]


def test_hard_links_share_one_inode() -> None:
    files = read([layer([directory("bin"), file("bin/server", b"x", 0o755),
                         hardlink("bin/migrate", "bin/server")])]).files
    assert files["/bin/server"].inode == files["/bin/migrate"].inode != 0


def test_a_secret_deleted_by_a_later_layer_is_still_seen() -> None:
    base = layer([directory("app"), directory("app/releases"), file("app/releases/COOKIE", b"secret")])
    contents = read([base, layer([file("app/releases/.wh.COOKIE", b"")])])
    assert "/app/releases/COOKIE" not in contents.files
    [sighting] = contents.sightings
    assert (sighting.kind, sighting.layer, sighting.deleted) == ("cookie", 0, True)


def test_relative_symlinks_inside_the_root_and_absolute_ones_are_fine() -> None:
    files = read([layer([directory("usr"), directory("usr/lib"), directory("etc"),
                         symlink("lib", "usr/lib"), symlink("etc/os-release", "../usr/lib/os-release"),
                         symlink("etc/localtime", "/usr/share/zoneinfo/Etc/UTC")])]).files
    assert files["/etc/os-release"].target == "../usr/lib/os-release"


HOSTILE: dict[str, tuple[list[Item], str]] = {
    "traversal": ([file("../escaped", b"pwned")], "'..'"),
    "deep traversal": ([directory("app"), file("app/../../escaped", b"pwned")], "'..'"),
    "absolute path": ([file("/tmp/verify-absolute-escape", b"pwned")], "absolute path"),
    "symlink escape": ([directory("app"), symlink("app/evil", "../../escaped")], "escapes the root"),
    "hardlink traversal": ([hardlink("evil", "../escaped")], "'..'"),
    "hardlink absolute": ([hardlink("evil", "/etc/shadow")], "absolute path"),
    "write through symlink": ([symlink("etc", "/host-etc"), file("etc/passwd", b"root::0:0")], "beneath the symlink"),
    "character device": ([Item("dev-null", "chr", mode=0o666)], "character device"),
    "block device": ([Item("sda", "blk", mode=0o660)], "block device"),
    "hardlink to nothing": ([hardlink("evil", "missing")], "not a file in the image"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused_and_nothing_is_written(case: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    items, reason = HOSTILE[case]
    work, dump = tmp_path / "work" / "deeper", tmp_path / "dump"
    work.mkdir(parents=True)
    dump.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(ImageUnreadable, match="hostile") as raised:
        read([layer(items)], dump_dir=dump)
    assert reason in str(raised.value)
    assert raised.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deeper", "dump", "work"]
    assert not Path("/tmp/verify-absolute-escape").exists()


def test_dumped_elf_files_get_names_the_reader_makes_up(tmp_path: Path) -> None:
    contents = read([layer([directory("app"), file("app/prog", AN_ELF, 0o755)])], dump_dir=tmp_path)
    dumped = Path(contents.files["/app/prog"].dump)
    assert dumped.parent == tmp_path and dumped.suffix == ".elf"
    assert dumped.read_bytes() == AN_ELF


def test_a_truncated_archive_is_unreadable() -> None:
    data = save_archive([layer([file("a", b"x" * 4096)])], "t:t")
    with pytest.raises(ImageUnreadable):
        read_image(io.BytesIO(data[:2000]), "t:t")


def test_an_archive_without_manifest_is_unreadable() -> None:
    with pytest.raises(ImageUnreadable, match=r"manifest\.json"):
        read_image(io.BytesIO(layer([file("hello", b"x")])), "t:t")

