"""Launcher vs the stock release start scripts: time from exec to erlexec.

Builds a real ``mix release`` of a fresh app with the host's Elixir, swaps the
release's ``erlexec`` for a static program that records CLOCK_MONOTONIC and
exits at once, then times, many times each:

* the stock chain: ``bin/<app> start`` (sh → releases/<vsn>/elixir → erl);
* the launcher (``bin/server``), EPMD-less, and with a native epmd pre-start
  (``epmd`` replaced by a program that exits at once and stamps nothing: a
  stamp written by it would be file I/O no real epmd does).

Each sample is the gap between the moment just before ``posix_spawn`` and the
first instruction of the fake erlexec's ``main``.  That gap also holds the
cost of spawning erlexec itself, which every way of starting pays; it is
measured on its own (the fake erlexec spawned directly) and subtracted for the
"exec -> erlexec exec'd" figure.  Prints medians and ratios; asserts nothing.
Needs: elixir/mix, gcc, make.

    python bench/launcher.py [--runs 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from builder.runner import run

REPO = Path(__file__).resolve().parent.parent
APP = "benchapp"
COOKIE = "bench-cookie-0123456789-abcdefghijklmnop"

_FAKE_ERLEXEC_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const char *path = getenv("BENCH_STAMP");
    if (path == NULL) return 0;
    FILE *out = fopen(path, "w");
    if (out == NULL) return 1;
    fprintf(out, "%lld\n", (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    return fclose(out) != 0;
}
"""

_FAKE_EPMD_C = "int main(void) { return 0; }\n"


@dataclass(frozen=True)
class Subject:
    """One way of starting the release."""

    label: str
    argv: tuple[str, ...]


def build_release(work: Path) -> Path:
    """A plain mix project with a runtime.exs, released for prod."""
    run(["mix", "new", APP, "--sup"], cwd=work)
    project = work / APP
    (project / "config").mkdir(exist_ok=True)
    (project / "config" / "runtime.exs").write_text(
        "import Config\nconfig :benchapp, port: 4000\n"
    )
    env = {**os.environ, "MIX_ENV": "prod"}
    run(["mix", "release", "--overwrite", "--quiet"], cwd=project, env=env)
    return project / "_build" / "prod" / "rel" / APP


def install_fakes(release: Path, work: Path) -> None:
    """Replace erlexec with a program that stamps the time, epmd with one that just exits."""
    (erts_bin,) = release.glob("erts-*/bin")
    for name, code in (("erlexec", _FAKE_ERLEXEC_C), ("epmd", _FAKE_EPMD_C)):
        source = work / f"fake_{name}.c"
        source.write_text(code)
        fake = work / f"fake_{name}"
        run(["gcc", "-O2", "-static", str(source), "-o", str(fake)])
        target = erts_bin / name
        target.unlink()
        shutil.copy2(fake, target)


def install_launcher(release: Path, work: Path, *, epmdless: bool) -> Path:
    name = "server" if epmdless else "server_epmd"
    out = work / f"launcher-{name}"
    header = REPO / "launcher" / "tasks-none.h"
    run(
        ["make", "-s", "-C", str(REPO / "launcher"), f"OUT={out}", f"RELEASE_NAME={APP}",
         "REQUIRE_TLS=0", f"EPMDLESS={int(epmdless)}", f"TASKS_HEADER={header}"]
    )  # fmt: skip
    entry = release / "bin" / ("server" if epmdless else "start")
    shutil.copy2(out, entry)
    return entry


def sample(subject: Subject, env: dict[str, str], stamp: Path) -> float:
    """Milliseconds from just before spawn to the fake erlexec's main()."""
    stamp.unlink(missing_ok=True)
    started = time.monotonic_ns()
    pid = os.posix_spawn(subject.argv[0], list(subject.argv), env)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{subject.label} exited with status {os.waitstatus_to_exitcode(status)}"
        )
    return (int(stamp.read_text()) - started) / 1e6


def measure(
    subjects: list[Subject], env: dict[str, str], stamp: Path, runs: int
) -> dict[str, list[float]]:
    """Round-robin over the subjects so load drift on the host hits all alike."""
    times: dict[str, list[float]] = {subject.label: [] for subject in subjects}
    for round_number in range(runs + 5):
        for subject in subjects:
            elapsed = sample(subject, env, stamp)
            if round_number >= 5:
                times[subject.label].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per subject")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-launcher-") as tmp:
        work = Path(tmp)
        release = build_release(work)
        install_fakes(release, work)
        server = install_launcher(release, work, epmdless=True)
        server_epmd = install_launcher(release, work, epmdless=False)
        release_tmp = work / "release-tmp"
        release_tmp.mkdir()
        stamp = work / "stamp"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "RELEASE_COOKIE": COOKIE,
            "RELEASE_TMP": str(release_tmp),
            "POD_IP": "127.0.0.1",
            "BENCH_STAMP": str(stamp),
        }
        (erts_bin,) = release.glob("erts-*/bin")
        baseline_subject = Subject(
            "baseline: spawn fake erlexec directly", (str(erts_bin / "erlexec"),)
        )
        subjects = [
            Subject(
                f"stock scripts (bin/{APP} start)",
                (str(release / "bin" / APP), "start"),
            ),
            Subject("launcher, EPMD-less", (str(server),)),
            Subject("launcher, native epmd pre-start", (str(server_epmd),)),
        ]
        medians = {}
        print(f"release: {release}  runs per subject: {args.runs}")
        all_times = measure([baseline_subject, *subjects], env, stamp, args.runs)
        for subject in [baseline_subject, *subjects]:
            times = all_times[subject.label]
            medians[subject.label] = statistics.median(times)
            q = statistics.quantiles(times, n=10)
            print(
                f"{subject.label:40s} median {medians[subject.label]:8.3f} ms"
                f"   p10 {q[0]:8.3f} ms   p90 {q[-1]:8.3f} ms"
            )
        base = medians[baseline_subject.label]
        stock = medians[subjects[0].label]
        print(
            f"exec -> erlexec exec'd (median minus baseline): stock {stock - base:.3f} ms"
        )
        for subject in subjects[1:]:
            own = medians[subject.label] - base
            print(
                f"{subject.label}: {own:.3f} ms, ratio {own / (stock - base):.4f}x"
                f" (raw, spawn included: {medians[subject.label] / stock:.4f}x)"
            )


if __name__ == "__main__":
    main()
