"""Render the plan: Dockerfiles from the Jinja2 templates, and build contexts.

Rendering is pure: the same plan gives byte-identical Dockerfiles and
context archives, which is what lets Docker's layer cache and our own
stage keys work.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import asdict
from pathlib import Path
from typing import IO

from builder.plan import Plan, Stage
from builder.templates import environment

# Context files get one fixed time, not 0: build tools such as mix treat a
# missing target as dated 1970-01-01 and skip sources that are "not newer".
CONTEXT_MTIME = 946_684_800  # 2000-01-01T00:00:00Z


def generated_files(stage: Stage) -> dict[str, bytes]:
    """Files made for the stage's context: its Dockerfile and what the plan generated for it."""
    dockerfile = environment().get_template(stage.template).render(**stage.context_variables())
    return {"Dockerfile": dockerfile.encode(), **dict(stage.generated)}


def context_archive(stage: Stage) -> IO[bytes]:
    """The stage's build context as a deterministic tar stream (sorted, fixed owners and times)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        entries: list[tuple[str, bytes | Path]] = [*generated_files(stage).items(), *stage.files]
        for name, content in sorted(entries, key=lambda entry: entry[0]):
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = CONTEXT_MTIME
            info.mode = 0o755 if isinstance(content, Path) and content.stat().st_mode & 0o111 else 0o644
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def write_plan(plan: Plan, out: Path) -> list[Path]:
    """Write every stage's context to ``out/<n>-<stage>/`` and the plan as JSON; return the dirs."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, stage in enumerate(plan.stages, start=1):
        target = out / f"{number}-{stage.name}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        for name, data in generated_files(stage).items():
            (target / name).write_bytes(data)
        for name, source in stage.files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
        written.append(target)
    (out / "plan.json").write_text(json.dumps(plan_summary(plan), indent=2, sort_keys=True) + "\n")
    return written


def plan_summary(plan: Plan) -> dict[str, object]:
    """The plan as JSON-ready data: what is built, from what, tagged how."""
    return {
        "builder_base": asdict(plan.base),
        "sources": [{**asdict(s), "path": str(s.path)} for s in plan.sources],
        "stages": [
            {"name": s.name, "purpose": s.purpose, "image": s.image, "from": s.parent,
             "variables": dict(s.variables), "files": sorted(name for name, _ in s.files),
             "generated": [name for name, _ in s.generated]}
            for s in plan.stages
        ],
        "image": plan.tag,
    }
