"""``build-image``: the command line.  Errors are caught once, here."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from builder import config as config_module
from builder import contract
from builder.build import Progress
from builder.certs import DEFAULT_NODES
from builder.cli_release import ADDERS as RELEASE_COMMANDS
from builder.errors import BuildImageError, PolicyViolation, UsageError

if TYPE_CHECKING:
    from builder.stage_cache import CacheSettings

EPILOG = """\
exit codes:
  0 success · 1 policy violations · 2 image unreadable · 3 bad config
  4 source fetch/checksum · 5 no Docker engine · 6 a stage failed
  7 an external command failed · 8 certificates · 9 registry · 10 pins --check: newer release
  64 bad command line

examples:
  build-image build                         build and verify the app beside ./build-image.yaml
  build-image build -c examples/hello/build-image.yaml --verbose
  build-image render --out out/             write the Dockerfiles and contexts, build nothing
  build-image verify hello:latest --json    check any local image against the policy
  build-image push 127.0.0.1:5000/hello:latest --oci out/oci
                                            push with a reproducible digest, write an OCI layout
  build-image sign 127.0.0.1:5000/hello:latest --key env://COSIGN_PRIVATE_KEY
  build-image verify --signed-by cosign.pub 127.0.0.1:5000/hello:latest
  build-image dist-certs certs/ --node a --node b
  build-image run -c examples/hello/build-image.yaml --certs certs/a
  build-image seccomp -c examples/hello/build-image.yaml
                                            write the image's seccomp profile (build writes it too)
  build-image k8s -c examples/hello/build-image.yaml -o k8s/ --image registry/hello@sha256:…
                                            write the StatefulSet, headless Service and NetworkPolicy
  build-image systemd out/systemd -c examples/hello/build-image.yaml
                                            write the root filesystem, the hardened service and its socket
"""


#: The registry each ``_add_*`` function adds its subcommand to.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is exit 64 (2 means "image unreadable" here)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}", hint=f"see `{self.prog} --help`")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = None
    try:
        args = parser.parse_args(argv)
        if getattr(args, "authfile", None) is not None:  # read by builder.credentials, and like skopeo's
            os.environ["REGISTRY_AUTH_FILE"] = str(args.authfile)
        return int(args.handler(args))
    except BuildImageError as exc:
        if args is not None and getattr(args, "debug", False):
            traceback.print_exc()
        print(f"build-image: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"build-image: hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("build-image: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="build-image",
        description="Build a hardened, shell-free, distroless :nonroot image of an Elixir release "
                    "from pinned sources, and prove it.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    # Every subcommand's parser is a _Parser too (usage errors exit 64).
    commands: Commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True,
                                               parser_class=_Parser)
    for add in (_add_build, _add_render, _add_verify, _add_push, _add_sign, _add_dist_certs, _add_run, _add_seccomp,
                _add_k8s, _add_systemd, _add_prune, *RELEASE_COMMANDS):
        add(commands)
    return parser


def _with_overrides(command: argparse.ArgumentParser) -> None:
    command.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                         help="override a key of build-image.yaml, dotted and validated like the file "
                              "(repeatable), e.g. --set otp.version=27.3.4.3; recorded in the image's labels")


def _with_authfile(command: argparse.ArgumentParser) -> None:
    command.add_argument("--authfile", type=Path, metavar="FILE",
                         help="registry logins ({\"auths\": …}, as skopeo's --authfile; default: "
                              "REGISTRY_AUTH_FILE, else Docker's config.json from `docker login`)")


def _with_config(command: argparse.ArgumentParser) -> None:
    command.add_argument("-c", "--config", type=Path, default=Path(config_module.CONFIG_NAME),
                         help="the app's build-image.yaml (default: ./build-image.yaml)")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _command(commands: Commands, name: str, summary: str, description: str,
             handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
    command = commands.add_parser(name, help=summary, description=description,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    command.set_defaults(handler=handler)
    return command


# -- build -------------------------------------------------------------------

def _add_build(commands: Commands) -> None:
    command = _command(
        commands, "build", "build, assemble and verify the image",
        "Fetch and verify the pinned sources, build each stage (cached by its inputs: an app\n"
        "change never rebuilds OTP), assemble the final image deterministically and verify it.\n"
        "A policy violation fails the build (exit 1).", _run_build)
    _with_config(command)
    _with_overrides(command)
    command.add_argument("-v", "--verbose", action="store_true", help="stream every build log line")
    command.add_argument("--no-verify", action="store_true",
                         help="skip the final verification (never in CI: the image is then unproven)")
    _with_destinations(command)
    command.add_argument("--cache", metavar="REGISTRY/REPO",
                         help="a registry stage cache: pull missing stages by key, push new ones (signed)")
    command.add_argument("--cache-verify-key", type=Path, metavar="PUB",
                         help="cosign public key every cache entry must be signed with (required with --cache)")
    command.add_argument("--cache-sign-key", metavar="KEY",
                         help="cosign private key (file or env://VAR) to sign pushed stages; without it "
                              "the cache is only read")
    _with_authfile(command)


def _cache_settings(args: argparse.Namespace, config: config_module.Config) -> CacheSettings | None:
    """The stage cache: the ``--cache`` flags, else build-image.yaml's ``cache:``, else none."""
    from builder.registry import Reference
    from builder.stage_cache import CacheSettings

    if args.cache is None:
        if config.cache is None:
            return None
        cache = config.cache
        return CacheSettings(Reference.parse(cache.repository), cache.verify_key,
                             args.cache_sign_key or cache.sign_key)
    if args.cache_verify_key is None:
        raise UsageError("--cache needs --cache-verify-key", hint="an unverified cache entry is never used")
    return CacheSettings(Reference.parse(args.cache), args.cache_verify_key, args.cache_sign_key)


def _run_build(args: argparse.Namespace) -> int:
    from builder.pipeline import build

    config = config_module.load(args.config, args.overrides)
    progress = Progress(verbose=args.verbose)
    built = build(config, progress, verify=not args.no_verify, cache=_cache_settings(args, config))
    if built.report is not None:
        # One line when clean; the whole report with --verbose, or when it fails.
        full = args.verbose or not built.report.ok
        print(built.report.render_text() if full else built.report.summary_line(), file=sys.stderr)
        if not built.report.ok:
            raise PolicyViolation(f"{built.image.tag} violates the verification policy (see above)",
                                  hint="fix the build, or add a waiver with a reason under verify.waivers")
    print(f"{built.image.tag} {built.image.id}")
    _write_sbom(built.image.tag, config)
    print(f"seccomp: {_seccomp_for_build(config)}", file=sys.stderr)
    if args.push or args.oci:
        _publish(built.image.tag, args, config)
    return 0


# -- render ------------------------------------------------------------------

def _add_render(commands: Commands) -> None:
    command = _command(
        commands, "render", "write the Dockerfiles and build contexts, build nothing",
        "Fetch and verify the sources, plan the stages and write each stage's Dockerfile and\n"
        "context to OUT/<n>-<stage>/, with OUT/plan.json describing every input and image tag.",
        _run_render)
    _with_config(command)
    _with_overrides(command)
    command.add_argument("-o", "--out", type=Path, default=Path("out"), help="output directory (default: out)")


def _run_render(args: argparse.Namespace) -> int:
    from builder.pipeline import prepare
    from builder.render import write_plan

    config = config_module.load(args.config, args.overrides)
    plan = prepare(config, Progress())
    for directory in write_plan(plan, args.out):
        print(directory)
    print(args.out / "plan.json")
    return 0


# -- verify ------------------------------------------------------------------

def _add_verify(commands: Commands) -> None:
    command = _command(
        commands, "verify", "check an image: hardened ELFs, no shell, non-root, no secrets",
        "Export IMAGE from the engine, read its layers safely and check every ELF and the image\n"
        "policy. Exit 0 clean, 1 violations, 2 the image could not be read. The policy and\n"
        "waivers come from --config when given, else the safe defaults with the built-in\n"
        "waivers for Debian's base libraries (the same verdict a build gives).", _run_verify)
    command.add_argument("image", help="a local image reference, e.g. hello:latest")
    command.add_argument("-c", "--config", type=Path, help="take the policy from this build-image.yaml")
    command.add_argument("--json", action="store_true", help="print the machine-readable report")
    command.add_argument("--signed-by", type=Path, metavar="KEY",
                         help="instead: check that the registry image IMAGE (registry/repo[:tag]) is signed by "
                              "this cosign public key and carries its SBOM and provenance attestations")
    _with_authfile(command)
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _run_verify(args: argparse.Namespace) -> int:
    from builder.engine import DockerEngine
    from builder.verify import VerifyPolicy, verify_image

    if args.signed_by is not None:
        return _verify_signed(args.image, args.signed_by)
    # Without a config: the safe defaults and the built-in waivers for Debian's base
    # libraries, as a build uses them; never waivers read from the image itself.
    policy = (config_module.load(args.config).verify if args.config
              else VerifyPolicy(waivers=config_module.BUILT_IN_WAIVERS))
    report = verify_image(DockerEngine.connect(), args.image, policy)
    print(json.dumps(report.to_json(), indent=2, sort_keys=True) if args.json else report.render_text())
    return 0 if report.ok else PolicyViolation.exit_code


# -- push --------------------------------------------------------------------

def _add_push(commands: Commands) -> None:
    command = _command(
        commands, "push", "push the built image to a registry with a reproducible digest",
        "Export the image from the engine, compress its layers deterministically, write the OCI\n"
        "manifest and push it through the registry API (not `docker push`, whose compression\n"
        "changes the digest). Prints REF@DIGEST: the digest the registry serves, the same after\n"
        "a re-push or a clean rebuild. --oci DIR writes the same image as an OCI image layout.",
        _run_push)
    command.add_argument("reference", nargs="?", metavar="REF",
                         help="registry/repository[:tag], e.g. 127.0.0.1:5000/hello:latest")
    command.add_argument("-c", "--config", type=Path, default=Path(config_module.CONFIG_NAME),
                         help="push the image this build-image.yaml builds (default: ./build-image.yaml)")
    command.add_argument("--image", help="push this local image instead of the configured tag")
    command.add_argument("--oci", type=Path, metavar="DIR", help="also write an OCI image layout in DIR")
    _with_authfile(command)
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _with_destinations(command: argparse.ArgumentParser) -> None:
    command.add_argument("--push", metavar="REF", help="push the image to REF (see `build-image push`)")
    command.add_argument("--oci", type=Path, metavar="DIR", help="write the image as an OCI image layout in DIR")


def _run_push(args: argparse.Namespace) -> int:
    if not args.reference and not args.oci:
        raise UsageError("nothing to do: give a registry REF, --oci DIR, or both",
                         hint="build-image push 127.0.0.1:5000/hello:latest")
    args.push = args.reference
    config: config_module.Config | None
    if args.image is None:
        config = loaded = config_module.load(args.config)
        image = _image_tag(loaded)
    else:
        config = config_module.load(args.config) if args.config.is_file() else None
        image = args.image
    _publish(image, args, config)
    return 0


def _write_sbom(image: str, config: config_module.Config) -> None:
    from builder.engine import DockerEngine
    from builder.publish import output_dir, write_sbom

    print(f"sbom: {write_sbom(DockerEngine.connect(), image, output_dir(config))}", file=sys.stderr)


def _publish(image: str, args: argparse.Namespace, config: config_module.Config | None) -> None:
    """Push and/or write the OCI layout; with the image's config, write its provenance too."""
    from builder.engine import DockerEngine
    from builder.publish import publish
    from builder.registry import Reference

    target = Reference.parse(args.push) if args.push else None
    published = publish(DockerEngine.connect(), image, to=target, oci_dir=args.oci, config=config)
    if published.provenance is not None:
        print(f"provenance: {published.provenance}", file=sys.stderr)
    if published.layout is not None:
        print(f"{published.layout} {published.digest}")
    if published.pushed is not None:
        print(published.pushed)


def _verify_signed(image: str, key: Path) -> int:
    from builder.registry import Reference
    from builder.signing import verify_signed

    verified = verify_signed(Reference.parse(image), key)
    print(f"{verified.reference}: {verified.signatures} signature(s) and attestations "
          f"{', '.join(verified.attestations)} verified with {key}")
    return 0


# -- sign --------------------------------------------------------------------

def _add_sign(commands: Commands) -> None:
    command = _command(
        commands, "sign", "sign a pushed image and attach its SBOM and provenance (cosign)",
        "Have cosign sign the digest REF resolves to, with KEY and no transparency log, and attach\n"
        "the image's SBOM and SLSA provenance (from .build-image/ beside build-image.yaml, written\n"
        "by build and push) as attestations, in cosign's tag-based format. KEY is a cosign.key\n"
        "file or env://VARIABLE (in CI: a secret); its password comes from COSIGN_PASSWORD.",
        _run_sign)
    command.add_argument("reference", metavar="REF", help="the pushed image, e.g. 127.0.0.1:5000/hello:latest")
    command.add_argument("--key", required=True, help="cosign private key: a file or env://VARIABLE")
    _with_authfile(command)
    _with_config(command)


def _run_sign(args: argparse.Namespace) -> int:
    from builder.provenance import PROVENANCE_NAME
    from builder.publish import output_dir
    from builder.registry import Reference
    from builder.sbom import SBOM_NAME
    from builder.signing import sign

    outputs = output_dir(config_module.load(args.config))
    try:
        sbom, provenance = (outputs / SBOM_NAME).read_bytes(), (outputs / PROVENANCE_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{exc.filename} is missing",
                         hint="build and push first: build-image build --push REF") from exc
    print(sign(Reference.parse(args.reference), args.key, sbom=sbom, provenance=provenance))
    return 0


def _image_tag(config: config_module.Config) -> str:
    """The config's image tag; without ``release:`` it follows the release mix.exs names (cached step)."""
    if config.tag is not None:
        return config.tag
    from builder.pipeline import prepare

    return prepare(config, Progress()).tag


# -- dist-certs --------------------------------------------------------------

def _add_dist_certs(commands: Commands) -> None:
    command = _command(
        commands, "dist-certs", "make a development CA and node certificates for TLS distribution",
        "Write DIR/ca/ (the CA; keep its key out of containers) and DIR/<node>/ with\n"
        "dist-cert.pem, dist-key.pem (0600) and dist-ca.pem: mount a node's directory at\n"
        "/app/dist-certs. In production, mount your own from a Kubernetes Secret instead.",
        _run_dist_certs)
    command.add_argument("directory", type=Path, help="where to write the certificates")
    command.add_argument("--node", action="append", dest="nodes", metavar="NAME",
                         help=f"a node to make a certificate for (repeatable; default: {' and '.join(DEFAULT_NODES)})")
    command.add_argument("--force", action="store_true", help="replace an existing directory")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _run_dist_certs(args: argparse.Namespace) -> int:
    import os

    from builder.certs import write_dist_certs

    for path in write_dist_certs(args.directory, args.nodes or DEFAULT_NODES, force=args.force,
                                 owner=(contract.RUN_UID, contract.RUN_GID) if os.geteuid() == 0 else None):
        print(path)
    return 0


# -- prune -------------------------------------------------------------------

def _add_prune(commands: Commands) -> None:
    command = _command(
        commands, "prune", "remove stage images the given configs no longer use",
        "Plan each config (default: ./build-image.yaml) and remove every build-image/ stage\n"
        "image none of them uses: stages of old pins or old app versions. --all removes every\n"
        "stage image (the next build starts cold: OTP takes minutes). App images stay.", _run_prune)
    command.add_argument("-c", "--config", type=Path, action="append", dest="configs", metavar="FILE",
                         help="a build-image.yaml whose stages to keep (repeatable; default: ./build-image.yaml)")
    command.add_argument("--all", action="store_true", dest="everything", help="remove every stage image")
    command.add_argument("-n", "--dry-run", action="store_true", help="name what would go, remove nothing")
    command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks for errors")


def _run_prune(args: argparse.Namespace) -> int:
    import io

    from builder.engine import DockerEngine
    from builder.pipeline import prepare
    from builder.prune import prune, referenced

    engine = DockerEngine.connect()
    configs = [] if args.everything else (args.configs or [Path(config_module.CONFIG_NAME)])
    plans = [prepare(config_module.load(path), Progress(out=io.StringIO()), engine) for path in configs]
    pruned = prune(engine, referenced(plans), everything=args.everything, dry_run=args.dry_run)
    for tag in pruned.removed:
        print(f"{'would remove' if args.dry_run else 'removed'} {tag}")
    print(f"{len(pruned.removed)} stage image(s) {'to remove' if args.dry_run else 'removed'}, "
          f"{len(pruned.kept)} kept, {pruned.freed / 1e6:.1f} MB freed", file=sys.stderr)
    return 0


# -- run ---------------------------------------------------------------------

def _add_run(commands: Commands) -> None:
    command = _command(
        commands, "run", "run the built image the way production should",
        "Run the image read-only, with every capability dropped, no-new-privileges, a tmpfs\n"
        "for the release's temp dir, the certificates mounted read-only and the cookie taken\n"
        "from RELEASE_COOKIE in your environment (never put on a command line).", _run_run)
    _with_config(command)
    command.add_argument("--certs", type=Path, required=True,
                         help="a node's certificate directory (see dist-certs)")
    command.add_argument("-p", "--publish", type=int, metavar="PORT",
                         help="publish the app's HTTP port on the host")
    command.add_argument("--cookie-env", default="RELEASE_COOKIE", metavar="NAME",
                         help="the environment variable holding the cookie (default: RELEASE_COOKIE)")
    command.add_argument("--print", action="store_true", dest="print_only",
                         help="print the docker run command instead of running it")
    command.add_argument("--seccomp", type=Path, metavar="FILE",
                         help="the seccomp profile (default: the image's, written to .build-image/seccomp.json)")


def _run_run(args: argparse.Namespace) -> int:
    import os
    import shlex

    from builder.run import docker_run_argv, docker_run_env

    config = config_module.load(args.config)
    tag = _image_tag(config)
    profile = args.seccomp or _write_seccomp(config, None)
    argv = docker_run_argv(tag, args.certs, publish=args.publish, seccomp=profile)
    if args.print_only:
        print(shlex.join(argv))
        return 0
    os.execvpe(argv[0], argv, docker_run_env(os.environ, args.cookie_env))
    return 127


# -- seccomp -----------------------------------------------------------------

def _add_seccomp(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = _command(
        commands, "seccomp", "write the image's seccomp profile (Docker/OCI JSON)",
        "Write the seccomp profile `build-image run` uses: every call denied (EPERM) but the\n"
        "ones the release was observed to make under its test workload (the OTP pin's list in\n"
        "builder/syscalls/), plus a documented margin; ptrace, mount, unshare, bpf, … denied\n"
        "explicitly; clone3 answers ENOSYS so glibc falls back to clone. `build` writes it too.",
        _run_seccomp)
    _with_config(command)
    command.add_argument("-o", "--out", type=Path, metavar="FILE",
                         help="where to write it (default: .build-image/seccomp.json beside build-image.yaml)")


def _run_seccomp(args: argparse.Namespace) -> int:
    print(_write_seccomp(config_module.load(args.config), args.out))
    return 0


# -- k8s ---------------------------------------------------------------------

def _add_k8s(commands: Commands) -> None:
    command = _command(
        commands, "k8s", "write Kubernetes manifests: StatefulSet, headless Service, NetworkPolicy",
        "Write DIR/statefulset.yaml, service.yaml and networkpolicy.yaml for the image: POD_IP from\n"
        "the downward API, the cookie and the dist certs from Secrets (<name>-cookie, key cookie;\n"
        "<name>-dist-certs), the restricted Pod Security Standard with the image's seccomp profile\n"
        "(Localhost), /tmp in memory, and the distribution port open only between the release's\n"
        "pods. The profile goes to DIR/seccomp/, to be copied to /var/lib/kubelet/seccomp/ on\n"
        "every node. The Secrets are never written. `kubectl apply -f DIR` applies the rest.",
        _run_k8s)
    _with_config(command)
    command.add_argument("-o", "--out", type=Path, metavar="DIR",
                         help="where to write them (default: .build-image/k8s beside build-image.yaml)")
    command.add_argument("--image", metavar="REF",
                         help="the image the pods run (default: the configured tag; give the pushed REF@sha256:…)")
    from builder.k8s import DEFAULT_REPLICAS

    command.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS, metavar="N",
                         help=f"how many nodes (default: {DEFAULT_REPLICAS})")
    command.add_argument("--http-port", type=int, default=contract.DEFAULT_HTTP_PORT, metavar="PORT",
                         help=f"the app's HTTP port, open to all (default: {contract.DEFAULT_HTTP_PORT})")


def _run_k8s(args: argparse.Namespace) -> int:
    from builder.k8s import write_manifests
    from builder.publish import output_dir

    config = config_module.load(args.config)
    if config.release is None:  # named by mix.exs: found the way `run` finds the tag (a cached step)
        from builder.pipeline import prepare

        config = prepare(config, Progress()).config
    for path in write_manifests(config, args.out or output_dir(config) / "k8s", image=args.image,
                                replicas=args.replicas, http_port=args.http_port):
        print(path)
    return 0


# -- systemd -----------------------------------------------------------------

def _add_systemd(commands: Commands) -> None:
    command = _command(
        commands, "systemd", "write the image's root filesystem and hardened systemd units",
        "Write OUTDIR/rootfs (the image's files, owners and modes kept; run as root), OUTDIR/<release>.service\n"
        "(/app/bin/server in RootDirectory=, Type=notify, DynamicUser, the cookie and the dist certs as\n"
        "credentials loaded from --credentials, the sandbox systemd-analyze security scores 1.2) and one\n"
        "OUTDIR/<release>.socket per --http-port (the service starts on the first connection).\n"
        "Install: copy rootfs to --root-dir, the units to /etc/systemd/system/, then\n"
        "`systemctl enable --now <release>.socket`.", _run_systemd)
    _with_config(command)
    command.add_argument("outdir", type=Path, metavar="OUTDIR", help="where to write rootfs/ and the units")
    command.add_argument("--image", metavar="IMAGE",
                         help="the local image to unpack (default: the configured tag; build it first)")
    command.add_argument("--http-port", type=int, action="append", dest="http_ports", metavar="PORT",
                         help=f"a port to listen on for the app, one .socket each (repeatable; "
                              f"default: {contract.DEFAULT_HTTP_PORT})")
    command.add_argument("--root-dir", metavar="DIR",
                         help="where the root filesystem will be installed (default: /var/lib/<release>/rootfs)")
    command.add_argument("--credentials", metavar="DIR",
                         help="the host directory LoadCredential= reads cookie, dist-cert.pem, dist-key.pem and "
                              "dist-ca.pem from (default: /etc/<release>)")
    command.add_argument("--node-host", metavar="HOST",
                         help="the node's host part, POD_IP (default: %%H, the host name; give this host's address)")
    command.add_argument("--watchdog", type=int, metavar="SECONDS",
                         help="WatchdogSec=: systemd restarts the release when it stops sending WATCHDOG=1")
    command.add_argument("--force", action="store_true", help="replace an existing OUTDIR/rootfs")


def _run_systemd(args: argparse.Namespace) -> int:
    import os
    import shutil
    from dataclasses import replace

    from builder.engine import DockerEngine
    from builder.errors import ImageUnreadable
    from builder.rootfs import MOUNT_POINTS, add_mount_points, export_rootfs
    from builder.systemd import default_settings, distribution_of, units, write_units

    if os.geteuid() != 0:
        raise UsageError("build-image systemd must run as root: the root filesystem keeps the image's "
                         "owners (root, 65532)", hint="sudo build-image systemd …")
    config = config_module.load(args.config)
    if config.release is None:  # named by mix.exs: found the way `k8s` finds it (a cached step)
        from builder.pipeline import prepare

        config = prepare(config, Progress()).config
    assert config.release is not None
    image = args.image or _image_tag(config)
    engine = DockerEngine.connect()
    facts = engine.image_facts(image)
    if facts is None:
        raise ImageUnreadable(f"the engine has no image {image!r}", hint="build it first: build-image build")
    settings = default_settings(config.release)
    settings = replace(settings, root_directory=args.root_dir or settings.root_directory,
                       credentials_dir=args.credentials or settings.credentials_dir,
                       http_ports=tuple(args.http_ports or settings.http_ports),
                       node_host=args.node_host or settings.node_host, watchdog_sec=args.watchdog)
    distribution = distribution_of(config, facts.labels)
    rootfs = args.outdir / "rootfs"
    if args.force and rootfs.exists():
        shutil.rmtree(rootfs)
    run = export_rootfs(engine, image, rootfs)
    add_mount_points(rootfs, MOUNT_POINTS)
    print(rootfs)
    for path in write_units(units(config.release, run, distribution, settings), args.outdir):
        print(path)
    return 0


def _seccomp_for_build(config: config_module.Config) -> str:
    """Where the build wrote the profile, or why it wrote none: an OTP pin not yet
    observed does not fail a build that succeeded; `run` refuses to run without a profile."""
    from builder.errors import ConfigError

    try:
        return str(_write_seccomp(config, None))
    except ConfigError as exc:
        return f"none written: {exc} ({exc.hint})"


def _write_seccomp(config: config_module.Config, path: Path | None) -> Path:
    """Write the image's profile to ``path`` (default: beside the build output); return where."""
    from builder.publish import output_dir
    from builder.seccomp import PROFILE_NAME, write_profile

    return write_profile(config, path or output_dir(config) / PROFILE_NAME)
