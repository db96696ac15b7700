"""The verification report: what failed, what was excused and why, what to know.

``Report.to_json()`` is the machine-readable form CI consumes; its schema is
documented in ``builder/verify/README.md`` and versioned by ``SCHEMA``: a field
is only ever added under the same version, never renamed or removed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from builder.verify.elf import CET, Check, Status
from builder.verify.policy import ELF_PROPERTIES, IMAGE_CHECKS, VerifyPolicy, Waiver

SCHEMA = "build-image/verify-report/v1"

_COLUMNS = ("pie", "relro", "stack-protector", "fortify", "nx-stack", "no-rpath", "cet")
_SHORT = {Status.PASS: "yes", Status.FAIL: "NO", Status.NOTHING_FORTIFIABLE: "n/a"}


@dataclass(frozen=True)
class Finding:
    """One property or check that does not hold on one path ("" for image settings)."""

    check: str
    path: str
    detail: str


@dataclass(frozen=True)
class Waived:
    """A finding a waiver excuses, kept so the report shows the reason."""

    finding: Finding
    waiver: Waiver


@dataclass(frozen=True)
class Note:
    """Something the reader should know that is not a violation."""

    topic: str
    path: str
    detail: str


@dataclass(frozen=True)
class ElfRow:
    """Every property's verdict on one ELF file of the final filesystem."""

    path: str
    kind: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Report:
    """The outcome of verifying one image against one policy."""

    image: str
    policy: VerifyPolicy
    violations: tuple[Finding, ...]
    waived: tuple[Waived, ...]
    notes: tuple[Note, ...]
    elves: tuple[ElfRow, ...]
    file_count: int
    layer_count: int
    bytes_read: int

    @property
    def ok(self) -> bool:
        return not self.violations

    def violations_of(self, check: str) -> list[Finding]:
        return [v for v in self.violations if v.check == check]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "image": self.image,
            "ok": self.ok,
            "summary": {
                "files": self.file_count,
                "elf_files": len(self.elves),
                "layers": self.layer_count,
                "bytes_read": self.bytes_read,
                "violations": len(self.violations),
                "waived": len(self.waived),
            },
            "policy": {
                "required": sorted(self.policy.required),
                "run_user": self.policy.run_user,
                "entrypoint": self.policy.entrypoint,
                "app_root": self.policy.app_root,
                "verbs": list(self.policy.verbs),
            },
            "violations": [_finding_json(v) for v in self.violations],
            "waived": [
                {**_finding_json(w.finding), "waiver": {"path": w.waiver.path, "reason": w.waiver.reason,
                                                        "package": w.waiver.package or None}}
                for w in self.waived
            ],
            "notes": [{"topic": n.topic, "path": n.path, "detail": n.detail} for n in self.notes],
            "elf": [
                {
                    "path": row.path,
                    "kind": row.kind,
                    "properties": {c.property: {"status": str(c.status), "detail": c.detail}
                                   for c in row.checks},
                }
                for row in self.elves
            ],
        }

    def summary_line(self) -> str:
        """The verdict in one line: counts, and what was waived and why, each reason's first clause."""
        reasons: dict[str, int] = {}
        for waived in self.waived:
            short = re.split(r"[(:;,]", waived.waiver.reason, maxsplit=1)[0].strip()
            reasons[short] = reasons.get(short, 0) + 1
        why = "; ".join(f"{count}× {reason}" for reason, count in sorted(reasons.items()))
        return (f"verify {self.image}: {'OK' if self.ok else 'FAILED'}: {self.file_count} paths, "
                f"{len(self.elves)} ELF files, {len(self.violations)} violation(s), "
                f"{len(self.waived)} waived" + (f" ({why})" if why else ""))

    def render_text(self) -> str:
        verdict = "OK" if self.ok else f"FAILED: {len(self.violations)} violation(s)"
        lines = [
            f"build-image verify {self.image}: {verdict}",
            f"  {self.file_count} paths, {len(self.elves)} ELF files, {self.layer_count} layers, "
            f"{len(self.waived)} waived finding(s)",
        ]
        lines += _grouped("Violations", [(v, "") for v in self.violations])
        lines += _grouped("Waived", [(w.finding, _waived_because(w.waiver)) for w in self.waived])
        lines += _notes(self.notes)
        lines += _elf_table(self.elves, {(w.finding.path, w.finding.check) for w in self.waived})
        return "\n".join(lines) + "\n"


def _finding_json(finding: Finding) -> dict[str, str]:
    return {"check": finding.check, "path": finding.path, "detail": finding.detail}


def _waived_because(waiver: Waiver) -> str:
    """The waiver's reason, and the package whose recorded file it had to be."""
    return waiver.reason + (f" [the file is Debian package {waiver.package}'s, as recorded in the image]"
                            if waiver.package else "")


def _describe(check: str) -> str:
    return ELF_PROPERTIES.get(check) or IMAGE_CHECKS.get(check) or ""


def _grouped(title: str, rows: list[tuple[Finding, str]]) -> list[str]:
    if not rows:
        return []
    by_check: dict[str, list[tuple[Finding, str]]] = defaultdict(list)
    for finding, reason in rows:
        by_check[finding.check].append((finding, reason))
    lines = ["", f"{title}:"]
    for check in sorted(by_check):
        group = by_check[check]
        lines.append(f"  {check} ({len(group)}): {_describe(check)}")
        width = max(len(f.path or "(image)") for f, _ in group)
        for finding, reason in group:
            lines.append(f"    {finding.path or '(image)':<{width}}  {finding.detail}")
            if reason:
                lines.append(f"    {'':<{width}}  waived: {reason}")
    return lines


def _notes(notes: tuple[Note, ...]) -> list[str]:
    if not notes:
        return []
    by_topic: dict[str, list[Note]] = defaultdict(list)
    for note in notes:
        by_topic[note.topic].append(note)
    lines = ["", "Notes:"]
    for topic in sorted(by_topic):
        lines.append(f"  {topic}:")
        for note in by_topic[topic]:
            lines.append(f"    {note.path + ': ' if note.path else ''}{note.detail}")
    return lines


def _elf_table(rows: tuple[ElfRow, ...], waived: set[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    width = max(len(r.path) for r in rows)
    header = f"  {'ELF file':<{width}}  " + "  ".join(f"{c:>{max(6, len(c))}}" for c in _COLUMNS)
    lines = ["", "ELF hardening (NO = missing, waived = missing but waived, n/a = nothing fortifiable, "
                 "cet informational):", header]
    for row in rows:
        cells = []
        for column in _COLUMNS:
            check = next((c for c in row.checks if c.property == column), None)
            text = _SHORT[check.status] if check else "-"
            if check and check.status is Status.FAIL and (row.path, column) in waived:
                text = "waived"
            elif column == CET and check and check.status is Status.FAIL:
                text = "no"
            cells.append(f"{text:>{max(6, len(column))}}")
        lines.append(f"  {row.path:<{width}}  " + "  ".join(cells))
    return lines
