"""The release engineer's commands: ``inspect``, ``pin`` and ``pins``.

Kept apart from :mod:`builder.cli` (which only lists :data:`ADDERS`) so the
commands several people edit stay small; they share its parser helpers,
imported when the parser is built (``builder.cli`` is loaded by then).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable


def _add_inspect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from builder.cli import _command

    command = _command(
        commands, "inspect", "show what an image is built from (OTP, Elixir, patches, flags, stages)",
        "Read IMAGE's labels and, when it has one, its SBOM (checked against its label): OTP, ERTS,\n"
        "Elixir and the app's versions, the source checksums, the OTP patches with their checksums,\n"
        "the hardening flags, the OpenSSL version, the launcher settings, every stage's key and the\n"
        "--set overrides it was built with. Needs no build-image.yaml. Facts an image assembled by\n"
        "an older build-image does not record are listed as unknown.", _run_inspect)
    command.add_argument("image", help="a local image reference, e.g. hello:latest")
    command.add_argument("--json", action="store_true", help="print the facts as JSON")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _run_inspect(args: argparse.Namespace) -> int:
    from builder.engine import DockerEngine
    from builder.inspect import inspect_image

    found = inspect_image(DockerEngine.connect(), args.image)
    print(json.dumps(found.to_json(), indent=2) if args.json else found.render_text())
    return 0


ADDERS: tuple[Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None], ...] = (_add_inspect,)
