"""Write OTP's and Elixir's BEAM audit baseline for an OTP pin from the example release.

    python3 tests/confine/write_audit_baseline.py [-c examples/hello/build-image.yaml]

Builds the image (from the stage cache), reads the audit the assembler
recorded in it, and writes every finding of the applications the project
did not write (OTP's, Elixir's), whatever their verdict, to
``builder/audit_baselines/otp-<version>.txt``; review the diff before
checking it in.  A finding in the project's own applications is never
written: those take a reasoned ``audit.allow`` entry in build-image.yaml.
Lines of applications the example's release does not hold (``eex``, seen in
examples/phoenix's) are kept as they are.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from builder import audit
from builder import config as config_module
from builder.build import Progress
from builder.engine import DockerEngine
from builder.pipeline import build

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello" / "build-image.yaml"
#: The example's own applications: never part of the baseline.
PROJECT_APPS = frozenset({"hello"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, default=EXAMPLE)
    args = parser.parse_args(argv)
    config = config_module.load(args.config)
    engine = DockerEngine.connect()
    image = build(config, Progress(out=io.StringIO()), verify=False).image.tag
    with engine.archive_from_image(image, audit.AUDIT_PATH) as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
        member = next(iter(tar))
        recorded = json.load(tar.extractfile(member))  # type: ignore[arg-type]
    findings = [audit.Finding(**item) for item in recorded["findings"]]
    platform = {f"{f.key}  # {f.app}" for f in findings if f.app not in PROJECT_APPS}
    path = audit.baseline_path(config.otp.source.version)
    platform |= _kept(path, {f.app for f in findings})
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join([
        f"# BEAM audit baseline of OTP {config.otp.source.version} and Elixir {config.elixir.version}:",
        "# the calls OTP's and Elixir's own modules make to denied functions (module target  # app).",
        "# Written by tests/confine/write_audit_baseline.py from the example release; reviewed by hand.",
        *sorted(platform)]) + "\n")
    print(f"{path}: {len(platform)} findings")
    return 0


def _kept(path: Path, audited: set[str]) -> set[str]:
    """Lines of applications this release does not hold (eex, from examples/phoenix): kept as they are."""
    if not path.is_file():
        return set()
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {line for line in lines if line.split("#", 1)[1].split()[0] not in audited}


if __name__ == "__main__":
    sys.exit(main())
