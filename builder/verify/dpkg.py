"""Which Debian package installed which file, as far as the image records it.

The run-time stage unpacks Debian's packages with ``dpkg-deb`` and keeps, for
each one, its control record (``/var/lib/dpkg/status.d/<package>``) and its
file list with every file's MD5 (``status.d/<package>.md5sums``, the layout
distroless images use and package scanners read).

The built-in waivers for Debian's base libraries name the package that must
own each path, because a path alone proves nothing: any image can put an
unhardened program at ``/lib/x86_64-linux-gnu/libc.so.6``.  The waiver list
itself is never read from the image (an image must not waive its own
violations); only this ownership fact is, and it is held to all of:

- the package has a control record whose ``Package`` field is its name;
- its file list names the path, and no other package's list does;
- the file's bytes have the MD5 that list gives (a file replaced after the
  package was unpacked, by a later layer say, is not the package's file).

A hostile image can still forge a whole consistent record for bytes of its
own; what this prevents is a waiver applying to a file the image does not
even claim came from Debian's package, or that differs from what it claims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from email.parser import Parser

from builder.verify.imagefs import ImageContents, Node, NodeKind

STATUS_DIR = "/var/lib/dpkg/status.d/"
MD5SUMS = ".md5sums"


@dataclass(frozen=True)
class Claim:
    """One line of a package's file list: the package says it installed ``path`` with this MD5."""

    package: str
    md5: str


@dataclass(frozen=True)
class Ownership:
    """The packages the image records, and which of them lists which path."""

    records: frozenset[str]
    claims: Mapping[str, tuple[Claim, ...]]

    def problem(self, path: str, package: str, node: Node | None) -> str:
        """Why the file at ``path`` is not ``package``'s as installed; "" when it is."""
        if package not in self.records:
            return f"the image records no package {package} ({STATUS_DIR}{package} missing or names another package)"
        claimants = sorted({claim.package for claim in self.claims.get(path, ())})
        if not claimants:
            return f"no package recorded in {STATUS_DIR} lists it"
        if claimants != [package]:
            return f"listed by {', '.join(claimants)}, not by {package} alone"
        if node is None or node.kind is not NodeKind.FILE or not node.md5:
            return f"not a file whose bytes can be compared with {package}'s record"
        recorded = sorted({claim.md5 for claim in self.claims[path]})
        if node.md5 not in recorded:
            return f"its MD5 {node.md5} is not the {' or '.join(recorded)} {package} recorded: replaced after install"
        return ""


def read_ownership(contents: ImageContents) -> Ownership:
    """The control records and file lists under :data:`STATUS_DIR` of the final filesystem."""
    records: set[str] = set()
    claims: dict[str, list[Claim]] = defaultdict(list)
    for path, node in contents.files.items():
        if not path.startswith(STATUS_DIR) or node.kind is not NodeKind.FILE:
            continue
        name = path[len(STATUS_DIR):]
        if "/" in name:
            continue
        if name.endswith(MD5SUMS):
            for claimed, md5 in _file_list(node.text):
                claims[claimed].append(Claim(name.removesuffix(MD5SUMS), md5))
        elif _record_package(node.text) == name:
            records.add(name)
    return Ownership(frozenset(records), {path: tuple(found) for path, found in claims.items()})


def _record_package(text: str) -> str:
    """The ``Package`` field of a control record ("" when it has none)."""
    return (Parser().parsestr(text)["Package"] or "").strip()


def _file_list(text: str) -> list[tuple[str, str]]:
    """``(absolute path, md5)`` for each ``<md5>  <relative path>`` line of an md5sums file."""
    found = []
    for line in text.splitlines():
        md5, _, relative = line.partition("  ")
        if len(md5) == 32 and relative:
            found.append(("/" + relative.removeprefix("./").lstrip("/"), md5.lower()))
    return found
