"""How long `build-image verify` takes, next to checksec over the same ELF files.

Usage: python bench/verify.py [IMAGE ...] [--synthetic-mb N]

For each IMAGE (a local image, e.g. the example app) and for a synthetic image
of at least N MB (default 120) made of this host's ELF files plus random
padding, it prints the bytes read, the ELF count, the verifier's wall time and
seconds per 100 MB, and checksec's wall time over the very same ELF files
(copied out of the image by the verifier's reader).  Target: <= 3 s / 100 MB.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

from builder.archive import write_save_archive
from builder.contract import ENTRYPOINT, RUN_USER
from builder.engine import DockerEngine
from builder.engine_protocol import Engine
from builder.runner import run
from builder.verify import VerifyPolicy, read_from_engine, verify_image

SYNTHETIC_TAG = "build-image-verify-bench/synthetic:latest"
HOST_ELF_DIRS = (Path("/usr/lib/x86_64-linux-gnu"), Path("/usr/bin"), Path("/usr/sbin"))
ROUNDS = 3
MAX_ELF = 8 << 20  # many ordinary ELF files rather than a few huge ones


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="local images to verify")
    parser.add_argument("--synthetic-mb", type=int, default=120, help="size of the synthetic image")
    args = parser.parse_args()
    engine = DockerEngine.connect()
    print(f"{'image':<44} {'MB read':>8} {'ELFs':>5} {'verify s':>9} {'s/100MB':>8} {'checksec s':>11}")
    for image in args.images:
        measure(engine, image)
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as scratch:
        archive = Path(scratch) / "synthetic.tar"
        archive.write_bytes(synthetic_archive(args.synthetic_mb << 20))
        engine.load_image(archive)
    try:
        measure(engine, SYNTHETIC_TAG)
    finally:
        engine.remove_image(SYNTHETIC_TAG)


def measure(engine: Engine, image: str) -> None:
    """Median verify time over ROUNDS runs, then checksec once per ELF file."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        report = verify_image(engine, image, VerifyPolicy())
        times.append(time.perf_counter() - start)
    verify_s = statistics.median(times)
    megabytes = report.bytes_read / (1 << 20)
    with tempfile.TemporaryDirectory(prefix="verify-bench-elves-") as dump:
        contents = read_from_engine(engine, image, Path(dump))
        copies = sorted({n.dump for n in contents.files.values() if n.dump and n.elf})
        start = time.perf_counter()
        for copy in copies:
            run(["checksec", f"--file={copy}", "--output=json"])
        checksec_s = time.perf_counter() - start
    print(f"{image:<44} {megabytes:>8.1f} {len(report.elves):>5} {verify_s:>9.2f} "
          f"{verify_s / megabytes * 100:>8.2f} {checksec_s:>11.2f}")


def synthetic_archive(target: int) -> bytes:
    """A one-layer docker-save archive: host ELF files, then random bytes up to ``target``."""
    layer = io.BytesIO()
    written = 0
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for path in host_elves():
            if written >= target * 2 // 3:
                break
            tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
            written += path.stat().st_size
        index = 0
        while written < target:
            data = os.urandom(4 << 20)
            info = tarfile.TarInfo(f"data/blob{index:04d}.bin")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            written += len(data)
            index += 1
    return docker_save(layer.getvalue())


def host_elves() -> list[Path]:
    found = []
    for directory in HOST_ELF_DIRS:
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_ELF:
                with path.open("rb") as handle:
                    if handle.read(4) == b"\x7fELF":
                        found.append(path)
    return found


def docker_save(layer: bytes) -> bytes:
    out = io.BytesIO()
    write_save_archive(out, SYNTHETIC_TAG, [layer], {"User": RUN_USER, "Entrypoint": [ENTRYPOINT]},
                       created="1970-01-01T00:00:00Z", history=["verify bench: host ELF files"])
    return out.getvalue()


if __name__ == "__main__":
    main()
