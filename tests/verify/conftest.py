"""Fixtures of the verifier's tests: compiled probe programs and loaded test images."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _support import HARDENED, LIBRARY, PROGRAM, TRIVIAL, compile_c, save_archive, without

# name -> (source, gcc flags); each variant drops or adds exactly one thing.
VARIANTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hardened": (PROGRAM, HARDENED),
    "no-pie": (PROGRAM, (*without(HARDENED, "-fPIE", "-pie"), "-fno-pie", "-no-pie")),
    "partial-relro": (PROGRAM, without(HARDENED, "-Wl,-z,now")),
    "no-relro": (PROGRAM, (*without(HARDENED, "-Wl,-z,relro", "-Wl,-z,now"), "-Wl,-z,norelro")),
    "no-stack-protector": (PROGRAM, (*without(HARDENED, "-fstack-protector-strong"), "-fno-stack-protector")),
    "no-fortify": (PROGRAM, (*without(HARDENED, "-D_FORTIFY_SOURCE=2"), "-U_FORTIFY_SOURCE")),
    "exec-stack": (PROGRAM, (*without(HARDENED, "-Wl,-z,noexecstack"), "-Wl,-z,execstack")),
    "rpath": (PROGRAM, (*HARDENED, "-Wl,--disable-new-dtags", "-Wl,-rpath,/opt/lib")),
    "runpath": (PROGRAM, (*HARDENED, "-Wl,--enable-new-dtags", "-Wl,-rpath,/opt/lib")),
    "nothing-fortifiable": (TRIVIAL, HARDENED),
    "shared-object": (LIBRARY, (*without(HARDENED, "-fPIE", "-pie"), "-fPIC", "-shared")),
    "static": (PROGRAM, (*without(HARDENED, "-fPIE", "-pie"), "-fno-pie", "-static")),
}


@pytest.fixture(scope="session")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every probe variant, compiled once per session with the host's gcc."""
    out = tmp_path_factory.mktemp("probes")
    return {name: compile_c(out / name, source, flags) for name, (source, flags) in VARIANTS.items()}


_tags = itertools.count(1)


@pytest.fixture
def load_image(engine, tmp_path: Path) -> Iterator[Callable[..., str]]:  # type: ignore[no-untyped-def]
    """Load hand-written layers into the engine as an image; remove them afterwards."""
    loaded: list[str] = []

    def load(layers: list[bytes], **settings: object) -> str:
        tag = f"build-image-verify-test/case{next(_tags)}:latest"
        archive = tmp_path / f"{len(loaded)}.tar"
        archive.write_bytes(save_archive(layers, tag, **settings))  # type: ignore[arg-type]
        engine.load_image(archive)
        loaded.append(tag)
        assert engine.has_image(tag), f"docker load of {archive} did not produce {tag}"
        return tag

    yield load
    for tag in loaded:
        engine.remove_image(tag)
