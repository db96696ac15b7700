"""Observe the image's system calls under its test workload and write the OTP pin's list.

    python3 tests/confine/observe_syscalls.py [-c examples/hello/build-image.yaml]

Builds the image (from the stage cache), runs :func:`confine_support.workload`
with every container under strace and no seccomp filter, and writes the union
of the call names to ``builder/syscalls/otp-<version>.txt``.  The docker tier's
``test_seccomp_observe.py`` runs the same observation and fails while a call
is missing from the checked-in list.
"""

from __future__ import annotations

import argparse
import io
import secrets
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import docker
from docker.types import Mount

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from builder import config as config_module  # noqa: E402
from builder import contract, seccomp  # noqa: E402
from builder.build import Progress  # noqa: E402
from builder.certs import write_dist_certs  # noqa: E402
from confine_support import (  # noqa: E402
    Confined,
    Outcome,
    calls_in,
    sigterm_traced,
    strace_tools,
    trace_directory,
    traced,
    workload,
)
from runtime_support import create_network, remove_network  # noqa: E402

EXAMPLE = HERE.parent.parent / "examples" / "hello" / "build-image.yaml"


def observe(client: docker.DockerClient, image: str, work: Path) -> tuple[set[str], Outcome]:
    """Run the workload on ``image`` under strace; return the calls seen and what it did."""
    tools = strace_tools(work / "tools")
    traces = trace_directory(work / "traces")
    network = create_network(client)
    try:
        ips = [network.allocate(), network.allocate()]
        write_dist_certs(work / "certs", [f"{ip}={ip}" for ip in ips], owner=(contract.RUN_UID, contract.RUN_GID))

        def confine(program: str, env: Mapping[str, str], mounts: Sequence[Mount]) -> Confined:
            return traced(tools, traces, program, env, mounts)

        outcome = workload(client, network, image, work / "certs", ips, secrets.token_urlsafe(32),
                           confine, lambda node: sigterm_traced(node, traces))
    finally:
        remove_network(network)
    return calls_in(traces), outcome


def write_list(path: Path, calls: set[str], image: str) -> None:
    header = [
        f"# System calls observed for this OTP pin (image {image}): boot, HTTP, the",
        "# mutual-TLS cluster of two nodes, SIGTERM, each task verb; all processes under strace -f.",
        "# Written by tests/confine/observe_syscalls.py; builder/seccomp.py adds MARGIN, removes DENIED.",
    ]
    path.write_text("\n".join([*header, *sorted(calls)]) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--config", type=Path, default=EXAMPLE)
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the traces in DIR (default: a temporary one)")
    args = parser.parse_args(argv)
    from builder.pipeline import build

    config = config_module.load(args.config)
    image = build(config, Progress(out=io.StringIO()), verify=False).image.tag
    with tempfile.TemporaryDirectory() as temporary:
        calls, outcome = observe(docker.from_env(timeout=120), image, args.keep or Path(temporary))
    path = seccomp.list_path(config.otp.source.version)
    write_list(path, calls, image)
    print(f"{path}: {len(calls)} calls; exits {outcome.exits}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
