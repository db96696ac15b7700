"""The build plan: what will be built, from which inputs, as plain data.

Each stage's image tag carries a key derived only from that stage's inputs
(template, template context, files, generated files, parent), so a stage is
rebuilt exactly when one of its inputs changed: an app change never rebuilds
OTP or Elixir.  Everything a stage's build context holds is decided here,
including the files made from the config (the launcher's task header), so
``render`` only writes and ``build`` only builds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from builder import contract
from builder.config import Config
from builder.gitdeps import git_inputs
from builder.resources import dockerfiles_dir, launcher_dir
from builder.sources import FetchedSource, sha256_of
from builder.tasks import render_task_header

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
# READY=1, the watchdog and the passed sockets under systemd: an application of its
# own that every release requires (umbrellas too), for the launcher's -s ... ready.
SYSTEMD_MODULE = "build_image_systemd"
# Config files the deps stage never sees: read at boot, or by other environments.
RUNTIME_ONLY_CONFIG = frozenset({"runtime.exs", "dev.exs", "test.exs"})


@dataclass(frozen=True)
class Bootstrap:
    """The builder base, made by mmdebstrap and ``docker import`` (no registry)."""

    suite: str
    packages: tuple[str, ...]
    image: str
    reference: str | None  # a digest-pinned image used as is instead


class _Epoch(TypedDict):
    source_date_epoch: int


class RuntimeContext(_Epoch):
    """runtime.Dockerfile.j2: the Debian packages unpacked and the run user."""

    packages: list[str]
    unused_libraries: list[str]
    run_uid: int
    run_gid: int
    run_home: str


class _Flags(TypedDict):
    cflags: str
    ldflags: str


class OtpContext(_Epoch, _Flags):
    """otp.Dockerfile.j2: the pinned tarball, its patches and the hardening flags."""

    otp_version: str
    tarball: str
    sha256: str
    without: list[str]
    patches: list[str]
    ded_ldflags: str


class ElixirContext(_Epoch):
    """elixir.Dockerfile.j2: the pinned tarball."""

    elixir_version: str
    tarball: str
    sha256: str


class ReleaseContext(_Epoch):
    """release.Dockerfile.j2: which release, and what the launcher needs in it."""

    release: str
    named: bool  # build-image.yaml names it: `mix release NAME`; else plain `mix release`
    deps: bool  # built on the deps stage (the project has a mix.lock)
    require_tls: bool
    epmdless: bool
    epmd_module: str
    systemd_module: str


class LauncherContext(_Flags):
    """launcher.Dockerfile.j2: the launcher's make variables (the task header is a generated file)."""

    release: str
    dist_port: int
    require_tls: int
    epmdless: int


class HexContext(_Epoch):
    """hex.Dockerfile.j2: the pinned Hex client, a source tarball or an .ez archive."""

    hex_version: str
    tarball: str
    sha256: str
    archive: bool


class Rebar3Context(_Epoch):
    """rebar3.Dockerfile.j2: the pinned rebar3, a .deb (only its escript is taken) or the escript."""

    rebar3_version: str
    file: str
    sha256: str
    deb: bool


class DepsContext(_Epoch):
    """deps.Dockerfile.j2: where packages come from and whether signatures are checked."""

    repository_url: str | None
    unsafe_skip_signature_check: bool
    vendored: bool  # deps/ came with the project: checked against mix.lock, nothing fetched
    git_rewrites: list[list[str]]  # [stage URL, mix.lock URL] of local git repositories (builder.gitdeps)
    git_repositories: list[str]  # their git directories, relative to the project
    git_remote_deps: list[str]  # git dependencies fetched over the network, named when the fetch fails


class GitContext(_Epoch):
    """git.Dockerfile.j2: Debian's git, for mix.lock's git dependencies (nothing else varies)."""


class ReleaseNameContext(_Epoch):
    """release-name.Dockerfile.j2: mix.exs and the script that reads it are its files."""


StageContext = (RuntimeContext | OtpContext | ElixirContext | ReleaseContext | LauncherContext
                | ReleaseNameContext | HexContext | Rebar3Context | GitContext | DepsContext)


@dataclass(frozen=True)
class Stage:
    """One Docker build: a template with its context, the files it copies and the files made for it."""

    name: str
    purpose: str
    template: str
    parent: str  # image tag this stage starts FROM
    variables: tuple[tuple[str, object], ...]  # the template context, sorted
    files: tuple[tuple[str, Path], ...]  # path in the context -> file on the host
    generated: tuple[tuple[str, bytes], ...]  # path in the context -> bytes made from the config
    image: str
    # The Docker network its RUN steps use. Not an input: where a pinned fetch
    # runs does not change what it fetches (mix.lock's checksums decide that).
    network: str | None = None

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
                   ReleaseNameContext(source_date_epoch=config.source_date_epoch),
                   {"mix.exs": config.app / "mix.exs", "release_name.exs": dockerfiles_dir() / "release_name.exs"})
    return ReleaseProbe(base=base, stages=(otp_stage, elixir_stage, probe))


def make_plan(config: Config, otp: FetchedSource, elixir: FetchedSource,
              hex_client: FetchedSource | None = None, rebar3: FetchedSource | None = None) -> Plan:
    """Derive every stage, its inputs and its content-addressed image tag.

    ``config`` must name its release (given, or :meth:`Config.resolved` from mix.exs).
    """
    if config.release is None or config.tag is None:
        raise ValueError("make_plan needs the release name: resolve it from mix.exs first")
    base = _bootstrap(config)
    flags = _Flags(cflags=" ".join(config.hardening.cflags), ldflags=" ".join(config.hardening.ldflags))
    epoch = _Epoch(source_date_epoch=config.source_date_epoch)
    runtime = _stage("runtime", "distroless run-time root filesystem", base.image,
                     RuntimeContext(packages=list(RUNTIME_PACKAGES), unused_libraries=list(UNUSED_LIBRARIES),
                                    run_uid=contract.RUN_UID, run_gid=contract.RUN_GID,
                                    run_home=contract.RUN_HOME, **epoch), {})
    otp_stage, elixir_stage = _toolchain(config, base, otp, elixir)
    dependencies = _dependency_stages(config, elixir_stage, hex_client, rebar3)
    release = _stage(
        "release", f"mix release {config.release}", (dependencies or (elixir_stage,))[-1].image,
        ReleaseContext(release=config.release, named=config.release_named,
                       deps=any(stage.name == "deps" for stage in dependencies),
                       require_tls=config.launcher.require_tls,
                       epmdless=config.launcher.epmdless, epmd_module=EPMD_MODULE,
                       systemd_module=SYSTEMD_MODULE, **epoch),
        {**_app_files(config.app),
         "include_erts.exs": dockerfiles_dir() / "include_erts.exs",
         "path_deps.exs": dockerfiles_dir() / "path_deps.exs",
         "require_app.exs": dockerfiles_dir() / "require_app.exs",
         **{f"systemd/{SYSTEMD_MODULE}{ext}": launcher_dir() / "erlang" / f"{SYSTEMD_MODULE}{ext}"
            for ext in (".erl", ".app")},
         **({"require_ssl.exs": dockerfiles_dir() / "require_ssl.exs"} if config.launcher.require_tls else {}),
         **({f"{EPMD_MODULE}.erl": launcher_dir() / "erlang" / f"{EPMD_MODULE}.erl"}
            if config.launcher.epmdless else {})},
        repository=f"release-{config.release}",
    )
    launcher = _stage(
        "launcher", "shell-free launcher", base.image,
        LauncherContext(release=config.release, dist_port=config.launcher.dist_port,
                        require_tls=int(config.launcher.require_tls), epmdless=int(config.launcher.epmdless),
                        **flags),
        _launcher_files(),
        generated={"tasks.h": render_task_header(dict(config.launcher.tasks),
                                                 config.launcher.vm_flags).encode()},
        repository=f"launcher-{config.release}",
    )
    return Plan(config=config, base=base,
                stages=(runtime, otp_stage, elixir_stage, *dependencies, release, launcher),
                sources=(otp, elixir, *([hex_client] if hex_client else []), *([rebar3] if rebar3 else [])),
                release=config.release, tag=config.tag)


def _dependency_stages(config: Config, elixir_stage: Stage, hex_client: FetchedSource | None,
                       rebar3: FetchedSource | None = None) -> tuple[Stage, ...]:
    """The Hex client and rebar3 (when pinned) and the deps stage (when there is a mix.lock).

    rebar3's stage sets ``MIX_REBAR3``; the deps and release stages are built
    on it, so their keys include the rebar3 pin (through their parent).

    The deps stage sees only what decides the dependencies: every mix.exs,
    mix.lock and the build-time config (not runtime.exs, not the other
    environments' files), so an app code change never refetches or recompiles them.
    """
    epoch = config.source_date_epoch
    stages: list[Stage] = []
    if config.hex is not None and hex_client is not None:
        stages.append(_stage(
            "hex", f"Hex {hex_client.version}", elixir_stage.image,
            HexContext(hex_version=hex_client.version, tarball=hex_client.path.name, sha256=hex_client.sha256,
                       archive=hex_client.path.suffix == ".ez", source_date_epoch=epoch),
            {hex_client.path.name: hex_client.path}))
    if rebar3 is not None:
        stages.append(_stage(
            "rebar3", f"rebar3 {rebar3.version} (MIX_REBAR3)", (stages or [elixir_stage])[-1].image,
            Rebar3Context(rebar3_version=rebar3.version, file=rebar3.path.name, sha256=rebar3.sha256,
                          deb=rebar3.path.suffix == ".deb", source_date_epoch=epoch),
            {rebar3.path.name: rebar3.path}))
    if not (config.app / "mix.lock").is_file():
        return tuple(stages)
    git = git_inputs(config.app)
    if git.deps:
        stages.append(_stage("git", f"git for {len(git.deps)} git dependencies (Debian's package)",
                             (stages or [elixir_stage])[-1].image, GitContext(source_date_epoch=epoch), {}))
    hex_config = config.hex
    key = hex_config.public_key if hex_config else None
    vendored = _vendored_deps(config.app)
    deps = _stage(
        "deps", "deps/ as vendored, checked against mix.lock, deps.compile" if vendored
        else "mix deps.get --only prod (as mix.lock pins them), deps.compile",
        (stages or [elixir_stage])[-1].image,
        DepsContext(repository_url=hex_config.repository_url if hex_config else None,
                    unsafe_skip_signature_check=bool(hex_config and hex_config.unsafe_skip_signature_check),
                    vendored=bool(vendored), git_rewrites=[list(pair) for pair in git.rewrites],
                    git_repositories=list(git.repositories),
                    git_remote_deps=[dep.name for dep in git.deps if dep.remote],
                    source_date_epoch=epoch),
        {**_dependency_inputs(config.app), **vendored, **git.files, **({"hex_public_key.pem": key} if key else {}),
         "path_deps.exs": dockerfiles_dir() / "path_deps.exs"},
        repository=f"deps-{config.release}")
    # Vendored deps build with no network at all; a fetch runs on the configured one.
    network = "none" if vendored else (hex_config.network if hex_config else None)
    return (*stages, dataclasses.replace(deps, network=network))


def _vendored_deps(app: Path) -> dict[str, Path]:
    """deps/ beside mix.lock (fetched by the user, or vendored): its sources, never a build directory."""
    deps = app / "deps"
    if not deps.is_dir():
        return {}
    return {f"app/deps/{path.relative_to(deps).as_posix()}": path for path in _walk(deps, ())
            if "_build" not in path.relative_to(deps).parts}


def _dependency_inputs(app: Path) -> dict[str, Path]:
    return {name: path for name, path in _app_files(app).items()
            if path.name in ("mix.exs", "mix.lock")
            or (path.parent.name == "config" and path.suffix == ".exs" and path.name not in RUNTIME_ONLY_CONFIG)}


def _toolchain(config: Config, base: Bootstrap, otp: FetchedSource, elixir: FetchedSource) -> tuple[Stage, Stage]:
    """The OTP and Elixir stages: their keys depend on the pins and flags only, never on the app."""
    flags = _Flags(cflags=" ".join(config.hardening.cflags), ldflags=" ".join(config.hardening.ldflags))
    shared_ldflags = " ".join(f for f in config.hardening.ldflags if f != "-pie")
    epoch = _Epoch(source_date_epoch=config.source_date_epoch)
    otp_stage = _stage(
        "otp", f"Erlang/OTP {otp.version}, hardened", base.image,
        OtpContext(otp_version=otp.version, tarball=otp.path.name, sha256=otp.sha256,
                   without=sorted(config.otp.without), patches=[p.name for p in config.otp.patches],
                   ded_ldflags=shared_ldflags, **flags, **epoch),
        {otp.path.name: otp.path, "build_id.pl": dockerfiles_dir() / "build_id.pl",
         **{f"patches/{p.name}": p for p in config.otp.patches}},
    )
    elixir_stage = _stage(
        "elixir", f"Elixir {elixir.version}", otp_stage.image,
        ElixirContext(elixir_version=elixir.version, tarball=elixir.path.name, sha256=elixir.sha256, **epoch),
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


def _stage(name: str, purpose: str, parent: str, context: StageContext, files: Mapping[str, Path],
           generated: Mapping[str, bytes] | None = None, repository: str | None = None) -> Stage:
    template = f"{name}.Dockerfile.j2"
    made = dict(sorted((generated or {}).items()))
    inputs = {
        "template": sha256_of(dockerfiles_dir() / template),
        "parent": parent,
        "variables": context,
        "files": {path: sha256_of(source) for path, source in sorted(files.items())},
        "generated": {path: hashlib.sha256(data).hexdigest() for path, data in made.items()},
    }
    return Stage(
        name=name, purpose=purpose, template=template, parent=parent,
        variables=tuple(sorted(context.items())),
        files=tuple(sorted(files.items())),
        generated=tuple(made.items()),
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
