"""dockerfiles/build_id.pl: an ELF's GNU build-id becomes a hash of its stripped bytes.

The linker hashes the unstripped output, debug information included, so two
clean OTP builds shipped the same beam.smp except for its build-id note.  The
OTP stage rewrites the id after stripping; these tests run the script on
copies of a host program and check what the stage relies on.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

SCRIPT = Path(__file__).resolve().parents[2] / "dockerfiles" / "build_id.pl"
PROGRAM = Path("/bin/true")

pytestmark = pytest.mark.tools("perl", "readelf", "strip", "objcopy")


def stripped_copy(tmp_path: Path, name: str) -> Path:
    """A copy of /bin/true, stripped the way the OTP stage strips (``--strip-debug``)."""
    copy = tmp_path / name
    shutil.copyfile(PROGRAM, copy)
    subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
    return copy


def rewrite(path: Path) -> None:
    subprocess.run(["perl", str(SCRIPT), str(path)], check=True, capture_output=True)


def note_span(path: Path) -> tuple[int, int]:
    """(file offset, size) of the build-id bytes in ``path``'s .note.gnu.build-id."""
    with path.open("rb") as stream:
        section = ELFFile(stream).get_section_by_name(".note.gnu.build-id")
        assert section is not None, f"{path} has no build-id note"
        namesz, descsz = int.from_bytes(section.data()[0:4], "little"), int.from_bytes(section.data()[4:8], "little")
        return section["sh_offset"] + 12 + ((namesz + 3) & ~3), descsz


def build_id(path: Path) -> str:
    """The build-id as readelf reads it: the file must still parse."""
    notes = subprocess.run(["readelf", "-W", "-n", str(path)], check=True, capture_output=True, text=True)
    assert not notes.stderr, notes.stderr
    return next(line.split(":", 1)[1].strip() for line in notes.stdout.splitlines() if "Build ID:" in line)


def patch(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as stream:
        stream.seek(offset)
        stream.write(data)


def text_offset(path: Path) -> int:
    with path.open("rb") as stream:
        section = ELFFile(stream).get_section_by_name(".text")
        assert section is not None
        return int(section["sh_offset"]) + 16


def test_the_id_is_the_sha1_of_the_file_with_the_id_zeroed(tmp_path: Path) -> None:
    program = stripped_copy(tmp_path, "program")
    linker_id = build_id(program)
    rewrite(program)
    offset, size = note_span(program)
    zeroed = bytearray(program.read_bytes())
    zeroed[offset:offset + size] = bytes(size)
    assert build_id(program) == hashlib.sha1(zeroed).hexdigest()[:size * 2] != linker_id


def test_same_stripped_bytes_give_the_same_id_whatever_the_linker_wrote(tmp_path: Path) -> None:
    first, second = stripped_copy(tmp_path, "first"), stripped_copy(tmp_path, "second")
    offset, size = note_span(second)
    patch(second, offset, bytes(range(1, size + 1)))  # another linker id, as a second OTP build has
    assert build_id(first) != build_id(second)
    rewrite(first)
    rewrite(second)
    assert first.read_bytes() == second.read_bytes()


def test_changed_code_gives_another_id(tmp_path: Path) -> None:
    original, changed = stripped_copy(tmp_path, "original"), stripped_copy(tmp_path, "changed")
    offset = text_offset(changed)
    patch(changed, offset, bytes([changed.read_bytes()[offset] ^ 0xFF]))
    rewrite(original)
    rewrite(changed)
    assert build_id(original) != build_id(changed)


def test_rewriting_twice_changes_nothing(tmp_path: Path) -> None:
    program = stripped_copy(tmp_path, "program")
    rewrite(program)
    once = program.read_bytes()
    rewrite(program)
    assert program.read_bytes() == once
    assert subprocess.run(["readelf", "-W", "-h", "-S", "-l", str(program)],
                          capture_output=True, text=True, check=True).stderr == ""


def test_a_file_without_a_build_id_is_left_as_it_is(tmp_path: Path) -> None:
    program = stripped_copy(tmp_path, "program")
    subprocess.run(["objcopy", "--remove-section", ".note.gnu.build-id", str(program)], check=True)
    before = program.read_bytes()
    rewrite(program)
    assert program.read_bytes() == before
