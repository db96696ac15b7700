"""``build-image.yaml``: parsed once, validated fully, frozen.

Nothing outside this module reads the YAML or a raw dict.  Every error names
the field (as a dotted path), the bad value and what is allowed, and unknown
keys are errors with a "did you mean" so a typo never silently falls back to
a default.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import yaml

from builder import contract
from builder.audit import Allowance
from builder.errors import ConfigError
from builder.tasks import validate_tasks
from builder.verify import ELF_PROPERTIES, IMAGE_CHECKS, VerifyPolicy, Waiver
from builder.verify.policy import UNWAIVABLE
from builder.vmflags import ALLOWED as ALLOWED_VM_FLAGS
from builder.vmflags import check_words

CONFIG_NAME = "build-image.yaml"

DEFAULT_CFLAGS = (
    "-O2", "-g", "-fPIE", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2",
    "-fstack-clash-protection", "-fcf-protection",
)
DEFAULT_LDFLAGS = ("-pie", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack")
# OTP applications a server never needs at run time.  common_test must stay
# out with Debian's +dfsg tarball (its bundled jquery is stripped).
DEFAULT_OTP_WITHOUT = (
    "common_test", "debugger", "dialyzer", "diameter", "edoc", "eldap", "erl_docgen",
    "et", "eunit", "ftp", "jinterface", "megaco", "observer", "odbc", "reltool",
    "snmp", "tftp", "wx",
)
DEFAULT_SOURCE_DATE_EPOCH = 1_704_067_200  # 2024-01-01: any fixed instant keeps builds reproducible
# The run-time base's libraries are Debian's builds, not ours: bookworm links
# them with -z relro but not -z now, and the loader and glibc's stub libraries
# have no stack protector.  Each is named with the package that installs it,
# so a new library in the base is judged strictly until someone reviews it,
# and a file at one of these paths that the image does not record as that
# package's (builder.verify.dpkg) is judged strictly too.  Every report shows
# these reasons.
_DEBIAN_BASE_LIBRARIES = {
    "libc6": tuple(f"/lib/x86_64-linux-gnu/{name}" for name in (
        "ld-linux-x86-64.so.2", "libc.so.6", "libdl.so.2", "libm.so.6", "libnss_dns.so.2",
        "libnss_files.so.2", "libpthread.so.0", "libresolv.so.2", "librt.so.1", "libutil.so.1")),
    "libgcc-s1": ("/lib/x86_64-linux-gnu/libgcc_s.so.1",),
    "libstdc++6": ("/usr/lib/x86_64-linux-gnu/libstdc++.so.6.*",),
}
_DEBIAN_BASE_WAIVERS = tuple(
    Waiver(path=path, properties=frozenset({"relro", "stack-protector", "fortify"}), package=package,
           reason="Debian bookworm's build of the run-time base library (relro without BIND_NOW, "
                  "glibc internals without the stack protector); build-image does not compile it")
    for package, paths in _DEBIAN_BASE_LIBRARIES.items() for path in paths
)
BUILT_IN_WAIVERS = (
    *_DEBIAN_BASE_WAIVERS,
    # Built with our flags, but its one libc call is a memcpy whose size is
    # known only at run time, so _FORTIFY_SOURCE has nothing to rewrite
    # (checksec and hardening-check report it unfortified as well).
    Waiver(path=f"{contract.APP_ROOT}/lib/asn1-*/priv/lib/asn1rt_nif.so", properties=frozenset({"fortify"}),
           reason="OTP's asn1 NIF: its only libc call is memcpy with a run-time size, which "
                  "_FORTIFY_SOURCE cannot check; built with the same flags as crypto.so"),
)
SHA256 = re.compile(r"[0-9a-f]{64}")
VERSION = re.compile(r"\d+(\.\d+){1,3}(-rc\d+)?")
RELEASE_NAME = re.compile(r"[a-z][a-z0-9_]*")
DEBIAN_SUITE = re.compile(r"[a-z][a-z0-9-]*")


class SourceKind(StrEnum):
    """Where a pinned tarball comes from."""

    URL = "url"
    PATH = "path"
    DEBIAN = "debian"


@dataclass(frozen=True)
class SourcePin:
    """Where a pinned tarball comes from: exactly one of url, path, debian."""

    version: str
    sha256: str | None
    url: str | None = None
    path: Path | None = None
    debian_suite: str | None = None

    @property
    def kind(self) -> SourceKind:
        return SourceKind.URL if self.url else SourceKind.PATH if self.path else SourceKind.DEBIAN


@dataclass(frozen=True)
class OtpConfig:
    source: SourcePin
    patches: tuple[Path, ...] = ()
    without: tuple[str, ...] = DEFAULT_OTP_WITHOUT


@dataclass(frozen=True)
class Hardening:
    cflags: tuple[str, ...] = DEFAULT_CFLAGS
    ldflags: tuple[str, ...] = DEFAULT_LDFLAGS


@dataclass(frozen=True)
class LauncherConfig:
    dist_port: int = contract.DEFAULT_DIST_PORT
    require_tls: bool = True
    epmdless: bool = False
    tasks: tuple[tuple[str, str], ...] = ()
    vm_flags: tuple[str, ...] = ()  # allowlisted emulator flags and values, one argv word each

    @property
    def verbs(self) -> tuple[str, ...]:
        return tuple(verb for verb, _ in self.tasks)


@dataclass(frozen=True)
class HexConfig:
    """The pinned Hex client and the repository the deps stage fetches from.

    ``repository_url`` None is the public repository (repo.hex.pm, checked
    with the key built into Hex); a mirror or private repository comes with
    its public key, so registry signatures are checked either way unless
    ``unsafe_skip_signature_check`` says otherwise, by name, in the config.
    """

    client: SourcePin
    repository_url: str | None = None
    public_key: Path | None = None
    unsafe_skip_signature_check: bool = False
    network: str | None = None  # the Docker network the fetch runs on (default: the engine's bridge)


@dataclass(frozen=True)
class Bases:
    """Base images: bootstrapped from Debian unless an image reference is given."""

    debian_suite: str = "bookworm"
    mirror: str | None = None
    builder: str | None = None


@dataclass(frozen=True)
class CacheConfig:
    """``cache:``: a registry stage cache shared between machines (``--cache`` flags override it).

    Entries are cosign-signed; ``verify_key`` is the public key every entry
    must verify with; ``sign_key`` (a cosign key file or ``env://VAR``, from a
    secret in CI) signs what this machine pushes; without it the cache is
    only read.
    """

    repository: str
    verify_key: Path
    sign_key: str | None = None


@dataclass(frozen=True)
class Config:
    """One app's build, as the user asked for it.

    ``release`` and ``tag`` are None when build-image.yaml leaves them out:
    the release is then the one mix itself would build, found by evaluating
    mix.exs on the Elixir stage (``builder.project``), and :meth:`resolved`
    fills both in before anything is planned.
    """

    file: Path
    release: str | None
    app: Path
    otp: OtpConfig
    elixir: SourcePin
    hardening: Hardening
    launcher: LauncherConfig
    bases: Bases
    tag: str | None
    source_date_epoch: int
    verify: VerifyPolicy = field(default_factory=VerifyPolicy)
    hex: HexConfig | None = None  # None: no Hex client; a mix.lock with Hex packages then is an error
    rebar3: SourcePin | None = None  # None: no rebar3 escript (MIX_REBAR3 unset); a .deb or the escript itself
    release_named: bool = True  # False: found in mix.exs, so plain `mix release` builds it
    overrides: tuple[str, ...] = ()  # the --set KEY=VALUE items applied over the file, recorded in labels
    audit_allow: tuple[Allowance, ...] = ()  # audit.allow: the app's reasoned BEAM call allowances
    cache: CacheConfig | None = None  # None: stages are built or found in the local engine only

    def resolved(self, release: str, where: str) -> Config:
        """This config with the release mix would build (found in ``where``) and its default tag."""
        _check_release_name(release, self.launcher, f"{self.file}: release (from {where})")
        return replace(self, release=release, tag=self.tag or f"{release}:latest", release_named=False)


# ---------------------------------------------------------------------------
# Reading


def load(path: Path, overrides: Sequence[str] = ()) -> Config:
    """Read and validate ``path``, with ``--set KEY=VALUE`` ``overrides`` applied over it.

    An override is validated with the file, as if written in it, so a typo in a
    dotted key gets the same "did you mean"; the config remembers the overrides
    (the assembler records them in the image's labels).  Raises :class:`ConfigError`.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file",
                          hint=f"write a {CONFIG_NAME} beside your mix.exs (see examples/hello)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from exc
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not overrides:
        return parse(raw, path)
    raw = {} if raw is None else raw
    for item in overrides:
        _override(raw, item, path)
    try:
        return replace(parse(raw, path), overrides=tuple(overrides))
    except ConfigError as exc:
        culprit = next((item for item in overrides if f": {item.partition('=')[0]}" in str(exc)), None)
        if culprit is None:
            raise
        raise ConfigError(f"{exc} (set by --set {culprit})", hint=exc.hint) from exc


OVERRIDE_KEY = re.compile(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*")


def _override(raw: object, item: str, path: Path) -> None:
    """Set one dotted key of the document; the value is read as YAML, except that ``1.20`` stays text."""
    key, equals, text = item.partition("=")
    if not equals or not OVERRIDE_KEY.fullmatch(key):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, such as otp.version=27.3.4.3")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {item}: the value is not valid YAML: {exc}") from exc
    node = raw
    *parents, last = key.split(".")
    for part in parents:
        if not isinstance(node, dict):
            break
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    if not isinstance(node, dict):
        raise ConfigError(f"{path}: --set {item}: {'.'.join(parents)} is not a mapping, so it has no key {last}")
    node[last] = text if isinstance(value, float) else value


def parse(raw: object, path: Path) -> Config:
    """Turn the YAML document into a :class:`Config` (the only reader of raw data)."""
    top = _Section(raw, "", path)
    base = path.resolve().parent
    release = top.text("release", default=None, pattern=RELEASE_NAME, allowed="a mix release name like my_app")
    launcher = _launcher(top.section("launcher"))
    if release is not None:
        _check_release_name(release, launcher, f"{path}: release")
    config = Config(
        file=path,
        release=release,
        app=_directory(top.get("app", "."), "app", base, path),
        otp=_otp(top.section("otp", required=True), base),
        elixir=_source(top.section("elixir", required=True), base),
        hardening=_hardening(top.section("hardening")),
        launcher=launcher,
        bases=_bases(top.section("bases")),
        hex=_hex(top.section("hex"), base) if top.has("hex") else None,
        rebar3=_rebar3(top.section("rebar3"), base) if top.has("rebar3") else None,
        tag=top.text("tag", default=f"{release}:latest" if release else None,
                     pattern=re.compile(r"[a-z0-9][a-z0-9._/-]*(:[\w][\w.-]{0,127})?"),
                     allowed="an image name with an optional :tag, lower case"),
        source_date_epoch=top.integer("source_date_epoch", default=DEFAULT_SOURCE_DATE_EPOCH,
                                      minimum=0, maximum=2**32),
        verify=_verify(top.section("verify"), launcher.verbs),
        audit_allow=_audit(top.section("audit")),
        cache=_cache(top.section("cache"), base) if top.has("cache") else None,
    )
    if config.hex is None and _lock_pins_hex(config.app):
        top.fail("hex", None, "a pinned Hex client: mix.lock pins Hex packages (see README: Hex dependencies), "
                 "e.g. hex: {version: \"2.5.1\", url: https://github.com/hexpm/hex/archive/refs/tags/v2.5.1.tar.gz, "
                 "sha256: <sha256sum of that file>}")
    top.finish()
    return config


def _check_release_name(release: str, launcher: LauncherConfig, where: str) -> None:
    """A release name becomes the node name and ``/app/bin/<release>``: it must not shadow a command."""
    if not RELEASE_NAME.fullmatch(release):
        raise ConfigError(f"{where}: {release!r} is not allowed; expected a mix release name like my_app")
    if release in (*launcher.verbs, contract.SERVER_COMMAND, contract.SERVER_ALIAS):
        raise ConfigError(f"{where}: {release!r} is not allowed; expected a release name that is not a "
                          "launcher command (server, start or a task verb)")


def _otp(section: _Section, base: Path) -> OtpConfig:
    patches = tuple(_file(p, f"{section.where}patches[{i}]", base, section.file)
                    for i, p in enumerate(section.list("patches")))
    without = tuple(section.list("without", default=list(DEFAULT_OTP_WITHOUT)))
    for i, app in enumerate(without):
        if not isinstance(app, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", app):
            section.fail(f"without[{i}]", app, "an OTP application name such as wx")
    return OtpConfig(source=_source(section, base, consumed=("patches", "without")),
                     patches=patches, without=without)


def _source(section: _Section, base: Path, consumed: tuple[str, ...] = ()) -> SourcePin:
    version = section.text("version", pattern=VERSION, allowed="a release version such as 27.3.4.1")
    sha256 = section.text("sha256", default=None, pattern=SHA256,
                          allowed="64 lower-case hex digits (sha256sum of the tarball)")
    kinds = [k for k in ("url", "path", "debian") if section.has(k)]
    if len(kinds) != 1:
        section.fail("", sorted(kinds) or "nothing",
                     "exactly one of url, path or debian (a Debian suite such as trixie)")
    pin = SourcePin(version=version, sha256=sha256)
    if kinds[0] == "url":
        url = section.text("url", pattern=re.compile(r"https?://\S+"), allowed="an http(s) URL")
        pin = SourcePin(version=version, sha256=sha256, url=url)
    elif kinds[0] == "path":
        pin = SourcePin(version=version, sha256=sha256,
                        path=_file(section.get("path"), f"{section.where}path", base, section.file))
    else:
        pin = SourcePin(version=version, sha256=sha256,
                        debian_suite=section.text("debian", pattern=DEBIAN_SUITE,
                                                  allowed="a Debian suite such as trixie"))
    if pin.kind is not SourceKind.DEBIAN and sha256 is None:
        section.fail("sha256", None, f"a sha256 is required for a {pin.kind} source")
    section.finish(consumed)
    return pin


def _hardening(section: _Section) -> Hardening:
    cflags = tuple(section.list("cflags", default=list(DEFAULT_CFLAGS)))
    ldflags = tuple(section.list("ldflags", default=list(DEFAULT_LDFLAGS)))
    for name, flags in (("cflags", cflags), ("ldflags", ldflags)):
        for i, flag in enumerate(flags):
            if not isinstance(flag, str) or not re.fullmatch(r"-[\w.,=+-]+", flag):
                section.fail(f"{name}[{i}]", flag, "a compiler flag such as -O2 (no spaces)")
    if not any(re.fullmatch(r"-O[0-3sz]?", f) for f in cflags):
        section.fail("cflags", list(cflags), "a set including an -O flag (OTP's configure requires one)")
    if "-Wl,-z,nodlopen" in ldflags:
        section.fail("ldflags", "-Wl,-z,nodlopen", "flags without -z nodlopen (NIFs could not be loaded)")
    section.finish()
    return Hardening(cflags=cflags, ldflags=ldflags)


def _launcher(section: _Section) -> LauncherConfig:
    tasks_section = section.section("tasks")
    tasks = validate_tasks(tasks_section.string_map())
    config = LauncherConfig(
        dist_port=section.integer("dist_port", default=contract.DEFAULT_DIST_PORT, minimum=1024, maximum=65535),
        require_tls=section.boolean("require_tls", default=True),
        epmdless=section.boolean("epmdless", default=False),
        tasks=tasks,
        vm_flags=_vm_flags(section),
    )
    section.finish()
    return config


def _vm_flags(section: _Section) -> tuple[str, ...]:
    """Each item is one emulator flag with its value (``"+S 4:4"``), checked against the allowlist."""
    words: list[str] = []
    for i, item in enumerate(section.list("vm_flags")):
        if not isinstance(item, str) or not item.split():
            section.fail(f"vm_flags[{i}]", item, 'one emulator flag with its value, such as "+S 4:4"')
        accepted, problems = check_words([(0, word) for word in item.split()])
        if problems:
            problem = problems[0]
            section.fail(f"vm_flags[{i}]", item, f"an allowlisted + emulator flag ({problem.word}: "
                         f"{problem.reason}){_did_you_mean(problem.word.split()[0], ALLOWED_VM_FLAGS)}")
        words += accepted
    return tuple(words)


def _lock_pins_hex(app: Path) -> bool:
    """mix.lock holds ``{:hex, …}`` entries (a lock is data, written by mix: no need to evaluate it)."""
    lock = app / "mix.lock"
    return lock.is_file() and "{:hex," in lock.read_text(encoding="utf-8", errors="replace")


def _hex(section: _Section, base: Path) -> HexConfig:
    """``hex:``: the client pinned like OTP (url or path, with sha256), and where packages come from."""
    flags = ("repository", "unsafe_skip_signature_check", "network")
    client = _source(section, base, consumed=flags)
    if client.kind is SourceKind.DEBIAN:
        section.fail("debian", client.debian_suite, "url or path of the Hex client's source tarball, with its sha256")
    repository = section.section("repository")
    url = repository.text("url", default=None, pattern=re.compile(r"https?://\S+"),
                          allowed="the repository's http(s) URL; omitted, the public repository hex.pm")
    key = repository.get("public_key", None)
    if url is not None and key is None:
        repository.fail("public_key", None, "the repository's public key file (PEM), so its signatures are checked")
    if url is None and key is not None:
        repository.fail("public_key", key, "no key without repository.url (hex.pm's key is built into Hex)")
    repository.finish()
    config = HexConfig(
        client=client, repository_url=url,
        public_key=None if key is None else _file(key, f"{repository.where}public_key", base, section.file),
        unsafe_skip_signature_check=section.boolean("unsafe_skip_signature_check", default=False),
        network=section.text("network", default=None, pattern=re.compile(r"[\w][\w.-]*"),
                             allowed="a Docker network name"),
    )
    section.finish()
    return config


def _rebar3(section: _Section, base: Path) -> SourcePin:
    """``rebar3:``: the escript mix runs for rebar3 dependencies (MIX_REBAR3), pinned like OTP.

    ``debian: bookworm`` takes Debian's ``rebar3`` binary package, verified by
    apt's signed index (and by ``sha256`` when given); ``url``/``path`` with a
    sha256 name a ``.deb`` or the escript itself.  Only the escript is used:
    the package's dependencies (Debian's own OTP) are never installed.
    """
    return _source(section, base)


def _cache(section: _Section, base: Path) -> CacheConfig:
    cache = CacheConfig(
        repository=section.text("repository", pattern=re.compile(r"[\w.-]+(:\d+)?/[a-z0-9][a-z0-9._/-]*"),
                                allowed="REGISTRY/REPO, e.g. 127.0.0.1:5000/build-image-cache"),
        verify_key=_file(section.get("verify_key"), f"{section.where}verify_key", base, section.file),
        sign_key=section.text("sign_key", default=None, pattern=re.compile(r"env://[A-Za-z_]\w*|[^\s:]+"),
                              allowed="env://VAR naming the variable that holds the cosign key (a CI "
                                      "secret), or a key file outside the repository"),
    )
    section.finish()
    return cache


def _bases(section: _Section) -> Bases:
    bases = Bases(
        debian_suite=section.text("debian_suite", default="bookworm", pattern=DEBIAN_SUITE,
                                  allowed="a Debian suite such as bookworm"),
        mirror=section.text("mirror", default=None, pattern=re.compile(r"https?://\S+"),
                            allowed="a Debian mirror URL; omitted, the host's apt sources are used"),
        builder=section.text("builder", default=None, pattern=re.compile(r"\S+@sha256:[0-9a-f]{64}"),
                             allowed="an image reference pinned by digest (name@sha256:…)"),
    )
    section.finish()
    return bases


def _verify(section: _Section, verbs: tuple[str, ...]) -> VerifyPolicy:
    default = VerifyPolicy()
    required = section.list("require", default=sorted(default.required))
    for i, prop in enumerate(required):
        if prop not in ELF_PROPERTIES:
            section.fail(f"require[{i}]", prop, f"one of {', '.join(sorted(ELF_PROPERTIES))}"
                         + _did_you_mean(prop, ELF_PROPERTIES))
    waivers = tuple(_waiver(_Section(w, f"{section.where}waivers[{i}].", section.file))
                    for i, w in enumerate(section.list("waivers")))
    section.finish()
    return VerifyPolicy(required=frozenset(required), waivers=BUILT_IN_WAIVERS + waivers, verbs=verbs)


def _audit(section: _Section) -> tuple[Allowance, ...]:
    """``audit.allow``: a module's call to a denied target, each with a written reason."""
    allowances = []
    for i, raw in enumerate(section.list("allow")):
        item = _Section(raw, f"{section.where}allow[{i}].", section.file)
        allowances.append(Allowance(
            module=item.text("module", pattern=re.compile(r"[A-Za-z][\w.]*"),
                             allowed="a module name, e.g. Elixir.MyApp.Ops"),
            target=item.text("call", pattern=re.compile(r"[A-Za-z][\w.]*:\w+/\d+"),
                             allowed="the denied call as module:function/arity, e.g. os:cmd/1"),
            reason=item.text("reason", pattern=re.compile(r"\S.{9,}", re.S),
                             allowed="a written reason of at least ten characters"),
        ))
        item.finish()
    section.finish()
    return tuple(allowances)


def _waiver(section: _Section) -> Waiver:
    properties = section.list("properties", default=["*"])
    known = sorted({*ELF_PROPERTIES, *IMAGE_CHECKS})
    for i, prop in enumerate(properties):
        if prop in UNWAIVABLE:
            section.fail(f"properties[{i}]", prop, "a check that can be waived: vm-args guards the launcher's "
                         "promises (put application settings in config/*.exs instead)")
        if prop != "*" and prop not in known:
            section.fail(f"properties[{i}]", prop, f"\"*\" or one of {', '.join(known)}" + _did_you_mean(prop, known))
    waiver = Waiver(
        path=section.text("path", pattern=re.compile(r"/\S*"), allowed="an absolute path or glob in the image"),
        properties=frozenset(properties),
        reason=section.text("reason", pattern=re.compile(r"\S.{9,}", re.S),
                            allowed="a written reason of at least ten characters"),
    )
    section.finish()
    return waiver


def _directory(value: object, name: str, base: Path, file: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{file}: {name}: {value!r} is not allowed; expected a directory path")
    resolved = (base / value).resolve()
    if not (resolved / "mix.exs").is_file():
        raise ConfigError(f"{file}: {name}: {value!r} has no mix.exs ({resolved})",
                          hint="point app at the directory of your mix project")
    return resolved


def _file(value: object, name: str, base: Path, file: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{file}: {name}: {value!r} is not allowed; expected a file path")
    resolved = (base / value).resolve()
    if not resolved.is_file():
        raise ConfigError(f"{file}: {name}: {value!r} does not exist ({resolved})")
    return resolved


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------
# A mapping being read: tracks which keys were used so leftovers are errors.

T = TypeVar("T")
_MISSING = object()


class _Section:
    def __init__(self, raw: object, where: str, file: Path) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{file}: {where.rstrip('.') or 'the document'}: expected a mapping, "
                              f"got {type(raw).__name__} {raw!r}")
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self.file = file
        self._used: set[str] = set()

    def has(self, key: str) -> bool:
        return key in self.raw

    def get(self, key: str, default: object = _MISSING) -> Any:
        self._used.add(key)
        if key in self.raw:
            return self.raw[key]
        if default is _MISSING:
            raise ConfigError(f"{self.file}: {self.where}{key} is required")
        return default

    def fail(self, key: str, value: object, allowed: str) -> NoReturn:
        name = f"{self.where}{key}".rstrip(".") or "the document"
        raise ConfigError(f"{self.file}: {name}: {value!r} is not allowed; expected {allowed}")

    def section(self, key: str, required: bool = False) -> _Section:
        value = self.get(key, _MISSING if required else None)
        return _Section(value, f"{self.where}{key}.", self.file)

    def text(self, key: str, *, default: object = _MISSING, pattern: re.Pattern[str],
             allowed: str) -> Any:
        value = self.get(key, default)
        if value is default and default is not _MISSING:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.fail(key, value, allowed)
        return value

    def integer(self, key: str, *, default: int, minimum: int, maximum: int) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            self.fail(key, value, f"a whole number from {minimum} to {maximum}")
        return value

    def boolean(self, key: str, *, default: bool) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, value, "true or false")
        return value

    def list(self, key: str, default: list[Any] | None = None) -> list[Any]:
        value = self.get(key, [] if default is None else default)
        if not isinstance(value, list):
            self.fail(key, value, "a list")
        return value

    def string_map(self) -> dict[str, str]:
        for key, value in self.raw.items():
            self._used.add(key)
            if not isinstance(key, str) or not isinstance(value, str):
                self.fail(str(key), value, "a verb name mapped to one Elixir expression (a string)")
        return dict(self.raw)

    def finish(self, also_used: tuple[str, ...] = ()) -> None:
        unknown = sorted(set(map(str, self.raw)) - self._used - set(also_used))
        if unknown:
            known = self._used | set(also_used)
            raise ConfigError(
                f"{self.file}: {self.where}{unknown[0]}: unknown key{_did_you_mean(unknown[0], known)}",
                hint=f"keys allowed here: {', '.join(sorted(known))}",
            )


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (YAML silently keeps the last)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
