"""The release engineer's commands: ``inspect``, ``pin`` and ``pins``.

Kept apart from :mod:`builder.cli` (which only lists :data:`ADDERS`) so the
commands several people edit stay small; they share its parser helpers,
imported when the parser is built (``builder.cli`` is loaded by then).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from builder.config import Config
from builder.debian import Mirror
from builder.errors import NewerReleaseAvailable
from builder.pins import PINNABLE, Target, resolve
from builder.sourceindex import SourceIndexes


def _add_inspect(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from builder.cli import _command

    command = _command(
        commands, "inspect", "show what an image is built from (OTP, Elixir, patches, flags, stages)",
        "Read IMAGE's labels and, when it has one, its SBOM (checked against its label): OTP, ERTS,\n"
        "Elixir and the app's versions, the source checksums, the OTP patches with their checksums,\n"
        "the hardening flags, the OpenSSL version, the launcher settings, every stage's key and the\n"
        "--set overrides it was built with. Needs no build-image.yaml. Facts an image assembled by\n"
        "an older build-image does not record are listed as unknown.", _run_inspect)
    command.add_argument("images", nargs="+", metavar="IMAGE",
                         help="local image references, e.g. hello:latest (several: one section each)")
    command.add_argument("--json", action="store_true", help="print the facts as JSON (a list for several images)")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _run_inspect(args: argparse.Namespace) -> int:
    from builder.engine import DockerEngine
    from builder.inspect import inspect_image

    engine = DockerEngine.connect()
    found = [inspect_image(engine, image) for image in args.images]
    if args.json:
        print(json.dumps(found[0].to_json() if len(found) == 1 else [f.to_json() for f in found], indent=2))
    else:
        print("\n\n".join(f.render_text() for f in found))
    return 0


def _with_index(command: argparse.ArgumentParser) -> None:
    command.add_argument("--sources-index", type=Path, metavar="DIR",
                         help="read Debian Sources indexes from DIR (dists/SUITE/main/source/Sources, pool "
                              "files beside them) instead of the archive in the host's apt sources")


def _indexes(args: argparse.Namespace, config: Config, suites: Sequence[str]) -> SourceIndexes:
    from builder.debian import host_mirror
    from builder.sources import DEBIAN_PACKAGES

    packages = list(DEBIAN_PACKAGES.values())
    if args.sources_index is not None:
        return SourceIndexes.from_snapshot(args.sources_index, packages)
    return SourceIndexes.from_archive(host_mirror(config.bases.mirror), suites, packages)


def _mirror(config: Config) -> Mirror:
    from builder.debian import host_mirror

    return host_mirror(config.bases.mirror)


# -- pin ---------------------------------------------------------------------

def _add_pin(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from builder.cli import _command, _with_config

    command = _command(
        commands, "pin", "move the OTP, Elixir, Hex or rebar3 pin to VERSION in build-image.yaml",
        "Resolve VERSION from the source the pin already uses (its Debian suite's Sources index,\n"
        "for rebar3 the suite's binary Packages index; or its URL with the version replaced), fetch\n"
        "the tarball (rebar3: the .deb or escript) and check it as a build does\n"
        "(apt's signed index for Debian; otherwise its sha256 is computed and shown), then rewrite\n"
        "build-image.yaml in place, comments and layout kept, and print the diff. A version the\n"
        "source does not have is an error naming the versions it has (exit 4).", _run_pin)
    _with_config(command)
    command.add_argument("name", choices=PINNABLE, help="which pin")
    command.add_argument("version", help="the release to pin, e.g. 27.3.4.3")
    source = command.add_mutually_exclusive_group()
    source.add_argument("--debian", metavar="SUITE", help="move the pin to this Debian suite (e.g. trixie)")
    source.add_argument("--url", metavar="PATTERN",
                        help="move the pin to this URL, {version} standing for the version")
    command.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    _with_index(command)


def _run_pin(args: argparse.Namespace) -> int:
    from builder import config as config_module
    from builder import pinfile

    config = config_module.load(args.config)
    target = Target(args.name, args.version, debian_suite=args.debian, url_pattern=args.url)
    new = resolve(config, target, lambda suites: _indexes(args, config, suites),
                  None if args.sources_index is not None else lambda: _mirror(config))
    old, text = pinfile.rewrite(args.config, new)
    pinfile.replace_validated(args.config, text, write=not args.dry_run)
    print(pinfile.unified_diff(args.config, old, text) or f"{args.config}: already pins this, nothing changed",
          end="")
    verb = "would pin" if args.dry_run else "pinned"
    print(f"{verb} {new.name} {new.version} from {new.kind} {new.where}: sha256 {new.sha256}", file=sys.stderr)
    if new.name == "otp" and config.otp.patches:
        print(f"note: otp.patches ({', '.join(p.name for p in config.otp.patches)}) were written for "
              f"{config.otp.source.version}; the next build applies them to {new.version} and fails if one "
              "no longer applies", file=sys.stderr)
    return 0


# -- pins --------------------------------------------------------------------

def _add_pins(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from builder.cli import _command, _with_config, _with_overrides

    command = _command(
        commands, "pins", "list the pins (sources, checksums, patches); --check for newer releases",
        "List each pin with its source, sha256 and (for OTP) the patches with theirs. With --check,\n"
        "read the Sources indexes of Debian bookworm, trixie and sid (with their -updates and\n"
        "-security suites) and show every newer release of a Debian-sourced pin, marked patch,\n"
        "minor or major, and the newer Debian revisions of the pinned version (reported only:\n"
        "build-image builds the upstream .orig tarball, Debian's patches are not applied).\n"
        "Exit 10 when a newer patch release exists (with --fail-on minor, a minor one too).", _run_pins)
    _with_config(command)
    command.add_argument("--check", action="store_true", help="look for newer releases")
    command.add_argument("--fail-on", choices=("patch", "minor"), default="patch",
                         help="which newer releases make --check exit 10 (default: patch)")
    command.add_argument("--json", action="store_true", help="print the pins (and what is newer) as JSON")
    _with_overrides(command)
    _with_index(command)


def _run_pins(args: argparse.Namespace) -> int:
    from builder import config as config_module
    from builder import pins as pins_module
    from builder.sourceindex import CHECKED_SUITES

    config = config_module.load(args.config, args.overrides)
    reports = (pins_module.check(config, _indexes(args, config, CHECKED_SUITES)) if args.check
               else pins_module.pins(config))
    print(json.dumps([r.to_json() for r in reports], indent=2) if args.json else pins_module.render(reports))
    gating = pins_module.gates(reports, args.fail_on) if args.check else []
    if gating:
        first = next(r for r in reports if gating[0] in r.newer)
        raise NewerReleaseAvailable(
            "newer releases than the pins: " + ", ".join(f"{r.name} {n.version} ({n.change})"
                                                        for r in reports for n in r.newer if n in gating),
            hint=f"move the pin: build-image pin {first.name} {gating[0].version}")
    return 0


ADDERS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_inspect, _add_pin, _add_pins)
