"""Prove an image is what it claims: hardened ELFs, no shell, non-root, no secrets.

``verify_image`` reads the image back through the engine (never trusting the
build that produced it), applies the policy and returns a :class:`Report`.
``build-image build`` calls it last; ``build-image verify IMAGE`` calls it on
any local image.  The JSON schema of the report is in ``README.md`` here.
"""

from __future__ import annotations

from pathlib import Path

from builder.engine_protocol import Engine, as_file
from builder.verify.checks import beam_audit_notes, elf_findings, image_findings, shell_call_notes
from builder.verify.dpkg import Ownership, read_ownership
from builder.verify.imagefs import ImageContents, read_image
from builder.verify.policy import (
    DEFAULT_REQUIRED,
    ELF_PROPERTIES,
    IMAGE_CHECKS,
    VerifyPolicy,
    Waiver,
)
from builder.verify.report import SCHEMA, Finding, Note, Report, Waived

__all__ = [
    "DEFAULT_REQUIRED",
    "ELF_PROPERTIES",
    "IMAGE_CHECKS",
    "SCHEMA",
    "Finding",
    "Note",
    "Report",
    "VerifyPolicy",
    "Waiver",
    "check_contents",
    "read_from_engine",
    "verify_image",
]


def verify_image(engine: Engine, image: str, policy: VerifyPolicy) -> Report:
    """Export ``image`` from the engine, read it safely and check ``policy``.

    Raises :class:`builder.errors.ImageUnreadable` when the image is missing,
    corrupt or hostile; a readable image always yields a report.
    """
    return check_contents(image, read_from_engine(engine, image), policy)


def read_from_engine(engine: Engine, image: str, dump_dir: Path | None = None) -> ImageContents:
    """Export ``image`` and read its final filesystem (optionally dumping its ELF files)."""
    with as_file(engine.save_image(image)) as stream:
        return read_image(stream, image, dump_dir)


def check_contents(image: str, contents: ImageContents, policy: VerifyPolicy) -> Report:
    """Apply ``policy`` to an image already read; split findings into violations and waivers."""
    elf, notes, rows = elf_findings(contents, policy)
    findings = [*elf, *image_findings(contents, policy)]
    ownership = read_ownership(contents)

    def owns(path: str, package: str) -> bool:
        return not ownership.problem(path, package, contents.files.get(path))

    violations: list[Finding] = []
    waived: list[Waived] = []
    for finding in findings:
        waiver = policy.waiver_for(finding.path, finding.check, owns)
        if waiver is None:
            violations.append(finding)
        else:
            waived.append(Waived(finding, waiver))
    return Report(
        image=image,
        policy=policy,
        violations=tuple(violations),
        waived=tuple(waived),
        notes=tuple([*notes, *_unowned_notes(violations, policy, ownership, contents),
                     *shell_call_notes(contents, policy), *beam_audit_notes(contents)]),
        elves=tuple(rows),
        file_count=len(contents.files),
        layer_count=contents.layer_count,
        bytes_read=contents.bytes_read,
    )


def _unowned_notes(violations: list[Finding], policy: VerifyPolicy, ownership: Ownership,
                   contents: ImageContents) -> list[Note]:
    """For each violation a package waiver would excuse by path alone: why the package's ownership failed."""
    notes: dict[tuple[str, str], Note] = {}
    for finding in violations:
        for waiver in policy.waivers:
            if waiver.package and waiver.covers(finding.path, finding.check):
                problem = ownership.problem(finding.path, waiver.package, contents.files.get(finding.path))
                notes.setdefault((finding.path, waiver.package), Note(
                    "waiver not applied", finding.path,
                    f"waived only as Debian package {waiver.package}'s file, and it is not: {problem}"))
    return list(notes.values())
