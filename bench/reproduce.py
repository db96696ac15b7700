"""Clean-rebuild reproducibility: does a fresh engine give the same image digest?

Builds the example in a second, empty engine (every build-image image
absent, the builder base bootstrapped again with mmdebstrap, same pins, same
day), then in the current engine from its stage cache, writes both as OCI
layouts and prints both digests.  The cached build comes second so both
assemble from the same working tree even if someone edits it meanwhile.  When they differ it says which layer (and which
files in it) or which config field differed.  Not part of CI (a cold OTP
build takes minutes); it never touches the images of the main engine.

    python3 bench/reproduce.py [-c examples/hello/build-image.yaml] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

from second_dockerd import second_dockerd

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "hello" / "build-image.yaml"
SHOWN = 20  # differing files listed per layer


def build_layout(config: Path, layout: Path, docker_host: str | None) -> tuple[str, float]:
    """``build-image build --oci`` in one engine; (digest, seconds)."""
    env = dict(os.environ)
    if docker_host:
        env["DOCKER_HOST"] = docker_host
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "builder", "build", "-c", str(config), "--oci", str(layout)],
                          env=env, capture_output=True, text=True, cwd=REPO, check=False)
    if done.returncode != 0:
        sys.exit(f"build failed in {docker_host or 'the main engine'}:\n{done.stderr[-4000:]}")
    return done.stdout.split()[-1], time.monotonic() - started


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def manifest(layout: Path) -> dict[str, object]:
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    return json.loads(blob(layout, entry["digest"]))  # type: ignore[no-any-return]


def differences(a: Path, b: Path) -> list[str]:
    """What differs between two single-image OCI layouts, most specific first."""
    first, second = manifest(a), manifest(b)
    found: list[str] = []
    config_a = json.loads(blob(a, first["config"]["digest"]))  # type: ignore[index]
    config_b = json.loads(blob(b, second["config"]["digest"]))  # type: ignore[index]
    found += [f"config field {path}: {left!r} != {right!r}" for path, left, right in fields(config_a, config_b)]
    if len(first["layers"]) != len(second["layers"]):  # type: ignore[arg-type]
        found.append(f"layer count: {len(first['layers'])} != {len(second['layers'])}")  # type: ignore[arg-type]
    for index, (la, lb) in enumerate(zip(first["layers"], second["layers"], strict=False)):  # type: ignore[call-overload]
        if la["digest"] == lb["digest"]:
            continue
        tar_a = zlib.decompress(blob(a, la["digest"]), 31)
        tar_b = zlib.decompress(blob(b, lb["digest"]), 31)
        if tar_a == tar_b:
            found.append(f"layer {index}: same tar, different compression")
            continue
        changed = files_differing(tar_a, tar_b)
        found.append(f"layer {index}: {len(changed)} file(s) differ")
        found += [f"  {line}" for line in changed[:SHOWN]]
    for key in sorted(set(first) | set(second)):
        if key not in ("config", "layers") and first.get(key) != second.get(key):
            found.append(f"manifest field {key}: {first.get(key)!r} != {second.get(key)!r}")
    return found


def fields(a: object, b: object, path: str = "") -> list[tuple[str, object, object]]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b)) for d in fields(a.get(key), b.get(key), f"{path}.{key}")]
    return [] if a == b else [(path or ".", a, b)]


def files_differing(tar_a: bytes, tar_b: bytes) -> list[str]:
    one, other = members(tar_a), members(tar_b)
    return [f"{name}: {one.get(name)} != {other.get(name)}"
            for name in sorted(set(one) | set(other)) if one.get(name) != other.get(name)]


def members(layer: bytes) -> dict[str, tuple[object, ...]]:
    found = {}
    with tarfile.open(fileobj=io.BytesIO(layer)) as archive:
        for info in archive:
            data = archive.extractfile(info).read() if info.isreg() else b""  # type: ignore[union-attr]
            found[info.name] = (info.type, oct(info.mode), info.uid, info.gid, info.mtime, info.size,
                                info.linkname, hashlib.sha256(data).hexdigest()[:16])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-c", "--config", type=Path, default=EXAMPLE)
    parser.add_argument("--work", type=Path, help="keep the layouts and the second engine's log here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="build-image-reproduce-"))
    with second_dockerd(work / "engine-2") as host:
        clean_digest, clean_seconds = build_layout(args.config, work / "clean", host)
    print(f"clean engine: {clean_digest}  ({clean_seconds:.0f} s, cold: builder base, OTP, Elixir, …)", flush=True)
    main_digest, main_seconds = build_layout(args.config, work / "main", None)
    print(f"main engine:  {main_digest}  ({main_seconds:.0f} s, stages from its cache)")
    if main_digest == clean_digest:
        print("identical: the clean rebuild reproduced the image digest")
        return
    print("DIFFERENT:")
    for line in differences(work / "main", work / "clean"):
        print(f"  {line}")
    sys.exit(1)


if __name__ == "__main__":
    main()
