"""The build plan: what will be built, from which inputs, as plain data.

Each stage's image tag carries a key derived only from that stage's inputs
(template, variables, files, parent), so a stage is rebuilt exactly when one
of its inputs changed: an app change never rebuilds OTP or Elixir.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from builder.config import Config
from builder.resources import dockerfiles_dir, launcher_dir
from builder.sources import FetchedSource, sha256_of

TAG_PREFIX = "build-image"
BUILDER_PACKAGES = (
    "autoconf", "binutils", "build-essential", "ca-certificates", "libssl-dev", "m4",
    "patch", "perl", "xz-utils",
)
# What the BEAM needs at run time (design notes: "runtime base").
RUNTIME_PACKAGES = (
    "base-files", "ca-certificates", "libc6", "libgcc-s1", "libstdc++6", "netbase", "tzdata",
)
# glibc libraries no BEAM links: debugging aids and legacy NSS/RPC.
UNUSED_LIBRARIES = (
    "libBrokenLocale.so.1", "libanl.so.1", "libc_malloc_debug.so.0", "libmemusage.so", "libmvec.so.1",
    "libnsl.so.1", "libnss_compat.so.2", "libnss_hesiod.so.2", "libpcprofile.so", "libthread_db.so.1",
)
# The app's own build directories never enter the build context.
APP_EXCLUDES = frozenset({"_build", "deps", ".git", ".elixir_ls", "node_modules", ".build-image"})
EPMD_MODULE = "build_image_epmd"


@dataclass(frozen=True)
class Bootstrap:
    """The builder base, made by mmdebstrap and ``docker import`` (no registry)."""

    suite: str
    packages: tuple[str, ...]
    image: str
    reference: str | None  # a digest-pinned image used as is instead


@dataclass(frozen=True)
class Stage:
    """One Docker build: a template rendered with variables, and its context files."""

    name: str
    purpose: str
    template: str
    parent: str  # image tag this stage starts FROM
    variables: tuple[tuple[str, object], ...]
    files: tuple[tuple[str, Path], ...]  # path in the context -> file on the host
    image: str

    def context_variables(self) -> dict[str, object]:
        return {"parent_image": self.parent, **dict(self.variables)}


@dataclass(frozen=True)
class Plan:
    """Everything ``build`` will do, in order; ``render`` writes it out."""

    config: Config
    base: Bootstrap
    stages: tuple[Stage, ...]
    sources: tuple[FetchedSource, ...]
    release: str  # the mix release built: from build-image.yaml, else found in mix.exs
    tag: str  # the final image

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def steps(self, *, verify: bool) -> int:
        """The numbered steps of a build: the builder base, each stage, the assembly, the verification."""
        return 1 + len(self.stages) + 1 + int(verify)


@dataclass(frozen=True)
class ReleaseProbe:
    """The stages that find the release mix would build, when build-image.yaml names none."""

    base: Bootstrap
    stages: tuple[Stage, ...]  # otp, elixir, release-name

    @property
    def answer(self) -> str:
        """The image holding the answer, at :data:`RELEASE_NAME_FILE`."""
        return self.stages[-1].image


RELEASE_NAME_FILE = "/probe/answer"


def release_probe(config: Config, otp: FetchedSource, elixir: FetchedSource) -> ReleaseProbe:
    """Evaluate mix.exs alone on the Elixir stage: keyed by mix.exs, so app code changes reuse the answer."""
    base = _bootstrap(config)
    otp_stage, elixir_stage = _toolchain(config, base, otp, elixir)
    probe = _stage("release-name", "the release mix would build, from mix.exs", elixir_stage.image,
                   {"source_date_epoch": config.source_date_epoch},
                   {"mix.exs": config.app / "mix.exs", "release_name.exs": dockerfiles_dir() / "release_name.exs"})
    return ReleaseProbe(base=base, stages=(otp_stage, elixir_stage, probe))


def make_plan(config: Config, otp: FetchedSource, elixir: FetchedSource) -> Plan:
    """Derive every stage, its inputs and its content-addressed image tag.

    ``config`` must name its release (given, or :meth:`Config.resolved` from mix.exs).
    """
    if config.release is None or config.tag is None:
        raise ValueError("make_plan needs the release name: resolve it from mix.exs first")
    base = _bootstrap(config)
    flags = {"cflags": " ".join(config.hardening.cflags), "ldflags": " ".join(config.hardening.ldflags)}
    epoch = {"source_date_epoch": config.source_date_epoch}
    runtime = _stage("runtime", "distroless run-time root filesystem", base.image,
                     {"packages": list(RUNTIME_PACKAGES), "unused_libraries": list(UNUSED_LIBRARIES),
                      **epoch}, {})
    otp_stage, elixir_stage = _toolchain(config, base, otp, elixir)
    release = _stage(
        "release", f"mix release {config.release}", elixir_stage.image,
        {"release": config.release, "named": config.release_named, "require_tls": config.launcher.require_tls,
         "epmdless": config.launcher.epmdless, "epmd_module": EPMD_MODULE, **epoch},
        {**_app_files(config.app),
         "include_erts.exs": dockerfiles_dir() / "include_erts.exs",
         **({"require_ssl.exs": dockerfiles_dir() / "require_ssl.exs"} if config.launcher.require_tls else {}),
         **({f"{EPMD_MODULE}.erl": launcher_dir() / "erlang" / f"{EPMD_MODULE}.erl"}
            if config.launcher.epmdless else {})},
        repository=f"release-{config.release}",
    )
    launcher = _stage(
        "launcher", "shell-free launcher", base.image,
        {"release": config.release, "dist_port": config.launcher.dist_port,
         "require_tls": int(config.launcher.require_tls), "epmdless": int(config.launcher.epmdless),
         "tasks": [list(t) for t in config.launcher.tasks], **flags},
        _launcher_files(),
        repository=f"launcher-{config.release}",
    )
    return Plan(config=config, base=base, stages=(runtime, otp_stage, elixir_stage, release, launcher),
                sources=(otp, elixir), release=config.release, tag=config.tag)


def _toolchain(config: Config, base: Bootstrap, otp: FetchedSource, elixir: FetchedSource) -> tuple[Stage, Stage]:
    """The OTP and Elixir stages: their keys depend on the pins and flags only, never on the app."""
    flags = {"cflags": " ".join(config.hardening.cflags), "ldflags": " ".join(config.hardening.ldflags)}
    shared_ldflags = " ".join(f for f in config.hardening.ldflags if f != "-pie")
    epoch = {"source_date_epoch": config.source_date_epoch}
    otp_stage = _stage(
        "otp", f"Erlang/OTP {otp.version}, hardened", base.image,
        {"otp_version": otp.version, "tarball": otp.path.name, "sha256": otp.sha256,
         "without": sorted(config.otp.without), "patches": [p.name for p in config.otp.patches],
         "ded_ldflags": shared_ldflags, **flags, **epoch},
        {otp.path.name: otp.path, **{f"patches/{p.name}": p for p in config.otp.patches}},
    )
    elixir_stage = _stage(
        "elixir", f"Elixir {elixir.version}", otp_stage.image,
        {"elixir_version": elixir.version, "tarball": elixir.path.name, "sha256": elixir.sha256, **epoch},
        {elixir.path.name: elixir.path},
    )
    return otp_stage, elixir_stage


def _bootstrap(config: Config) -> Bootstrap:
    inputs: dict[str, object] = {"suite": config.bases.debian_suite, "packages": BUILDER_PACKAGES,
                                 "epoch": config.source_date_epoch}
    if config.bases.builder is not None:
        inputs["reference"] = config.bases.builder
    key = _digest(inputs)
    return Bootstrap(suite=config.bases.debian_suite, packages=BUILDER_PACKAGES,
                     image=f"{TAG_PREFIX}/builder-base:{key}", reference=config.bases.builder)


def _stage(name: str, purpose: str, parent: str, variables: Mapping[str, object],
           files: Mapping[str, Path], repository: str | None = None) -> Stage:
    template = f"{name}.Dockerfile.j2"
    inputs = {
        "template": sha256_of(dockerfiles_dir() / template),
        "parent": parent,
        "variables": variables,
        "files": {path: sha256_of(source) for path, source in sorted(files.items())},
    }
    return Stage(
        name=name, purpose=purpose, template=template, parent=parent,
        variables=tuple(sorted(variables.items())),
        files=tuple(sorted(files.items())),
        image=f"{TAG_PREFIX}/{repository or name}:{_digest(inputs)}",
    )


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _app_files(app: Path) -> dict[str, Path]:
    return {f"app/{path.relative_to(app).as_posix()}": path for path in _walk(app, APP_EXCLUDES)}


def _launcher_files() -> dict[str, Path]:
    root = launcher_dir()
    return {f"launcher/{path.relative_to(root).as_posix()}": path
            for path in _walk(root, frozenset({"build", "__pycache__"}))
            if path.suffix in {".c", ".h", ".j2"} or path.name == "Makefile"}


def _walk(root: Path, excludes: Iterable[str]) -> Iterator[Path]:
    skip = frozenset(excludes)
    for path in sorted(root.iterdir()):
        if path.name in skip or path.is_symlink():
            continue
        if path.is_dir():
            yield from _walk(path, ())
        elif path.is_file():
            yield path
