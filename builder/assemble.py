"""Assemble the final image ourselves: deterministic layers, no Dockerfile.

The run-time root filesystem, the release and the launcher are read out of
their stage images as tar streams, re-packed with sorted entries, fixed
owners and clamped times, and loaded as a ``docker save`` archive.  The same
stage outputs therefore always give the same image ID, and what goes into the
image is decided here, entry by entry: no shell scripts, no cookie, one
launcher inode behind every entry point.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import tarsafe

from builder import archive as docker_save
from builder import contract
from builder.appsource import app_source
from builder.audit import AUDIT_PATH, audit_release
from builder.audit import to_json as audit_json
from builder.build import StageImages
from builder.config import Config
from builder.engine_protocol import Engine
from builder.errors import BuildFailed, PolicyViolation
from builder.plan import Plan
from builder.records import build_labels
from builder.sbom import SBOM_PATH, make_sbom
from builder.vmflags import vm_args_problems

# Layer entries are relative: "app/bin/server" is /app/bin/server in the image.
APP = contract.APP_ROOT.lstrip("/")
LABEL = "io.build-image"
#: The release stage's ``mix compile`` output, debug info intact (the BEAM audit reads it).
RELEASE_BUILD_DIR = "/build/app/_build"
# The ERTS programs a running node uses; the rest (erlc, escript, dialyzer,
# ct_run, run_erl, to_erl, erl_call, …) are tools that need a shell or a human.
ERTS_PROGRAMS = frozenset({"beam.smp", "erlexec", "epmd", "erl_child_setup", "inet_gethost", "heart"})
RELEASE_SCRIPTS = re.compile(
    r"(^bin/[^/]+$)|(^releases/[^/]+/(elixir|iex|env\.sh|remote\.vm\.args)$)|\.bat$|^releases/COOKIE$")
# The assembler's own code, hashed into the image's inputs.
_ASSEMBLER_CODE = (Path(__file__), Path(docker_save.__file__))


@dataclass(frozen=True)
class Entry:
    """One file, directory, symlink or hardlink of a layer, already normalised."""

    info: tarfile.TarInfo
    data: bytes | None = None


@dataclass(frozen=True)
class AssembledImage:
    tag: str
    id: str
    labels: dict[str, str]
    reused: bool = False  # the engine already had it, from the same inputs


def assemble(engine: Engine, plan: Plan, stages: StageImages) -> AssembledImage:
    """Build the final image from the stage images and load it into the engine.

    The stages are read by the image IDs ``build_all`` reported, so what is
    assembled is exactly what was built, even if a tag has moved since.
    """
    config = plan.config
    release = _read_tree(engine, stages["release"].id, "/release", "release")
    _check_vm_args(release)
    beam_audit = _beam_audit(engine, stages["release"].id, release, config)
    app_version, erts_version = _release_versions(release)
    build_info = _build_info(engine, stages["otp"].id)
    labels = _labels(plan, app_version, erts_version, build_info)
    runtime = _read_tree(engine, stages["runtime"].id, "/rootfs", "rootfs")
    launcher = _read_tree(engine, stages["launcher"].id, "/out/launcher", "")
    sbom = make_sbom(config=config, release=plan.release, tag=plan.tag, sources=plan.sources,
                     app_version=app_version, app=app_source(config.app),
                     build_info=build_info, release_files=[entry.info.name for entry in release],
                     runtime_files={entry.info.name: entry.data for entry in runtime if entry.data is not None},
                     launcher=launcher[0].data or b"")
    labels[f"{LABEL}.sbom.sha256"] = hashlib.sha256(sbom).hexdigest()
    sbom_file = Entry(_file_info(SBOM_PATH.lstrip("/"), len(sbom), 0o644), sbom)
    layers = [
        _layer(runtime, config.source_date_epoch, keep_owner=True),
        _layer([*_app_entries(config, release, launcher), sbom_file, beam_audit], config.source_date_epoch,
               keep_owner=False),
    ]
    labels[f"{LABEL}.inputs"] = content_key(layers, labels)
    existing = engine.image_facts(plan.tag)
    if existing is not None and existing.labels.get(f"{LABEL}.inputs") == labels[f"{LABEL}.inputs"]:
        return AssembledImage(plan.tag, existing.id, existing.labels, reused=True)
    with tempfile.TemporaryDirectory(prefix="build-image-assemble-") as work:
        archive = Path(work) / "image.tar"
        image_id = _write_save_archive(archive, config, plan.tag, layers, labels)
        engine.load_image(archive)
    return AssembledImage(plan.tag, image_id, labels)


def content_key(layers: list[bytes], labels: dict[str, str]) -> str:
    """The image's inputs, keyed on content: layer diff IDs, labels and the assembler's code.

    Engine image IDs of the stages are left out on purpose: the engine never
    reproduces them, so hashing them gave a new key (and a new image digest)
    after every clean rebuild even when every layer was byte-identical.
    """
    diff_ids = [hashlib.sha256(layer).hexdigest() for layer in layers]
    # The assembler's own code is an input too: a changed rule means a new image.
    assembler = hashlib.sha256(b"".join(path.read_bytes() for path in _ASSEMBLER_CODE)).hexdigest()
    return hashlib.sha256(json.dumps([diff_ids, labels, assembler], sort_keys=True).encode()).hexdigest()


# ---------------------------------------------------------------------------
# Reading stage outputs


def _read_tree(engine: Engine, image: str, path: str, prefix: str) -> list[Entry]:
    """Every entry under ``path`` in ``image``, renamed relative to ``prefix``, vetted."""
    entries = []
    with engine.archive_from_image(image, path) as stream, tarsafe.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            name = _relative(info.name, prefix)
            if name is None:
                continue
            _vet(info, name, image)
            data = archive.extractfile(info).read() if info.isreg() else None
            info.name = name
            if info.islnk():
                info.linkname = _relative(info.linkname, prefix) or ""
            entries.append(Entry(info, data))
    return entries


def _relative(name: str, prefix: str) -> str | None:
    name = name.rstrip("/")
    if not prefix:
        return posixpath.basename(name)
    if name == prefix:
        return None
    if not name.startswith(prefix + "/"):
        raise BuildFailed(f"unexpected entry {name!r} outside {prefix}/ in a stage archive")
    return name[len(prefix) + 1:]


def _vet(info: tarfile.TarInfo, name: str, image: str) -> None:
    """Refuse what no stage output should contain: escapes and device nodes."""
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise BuildFailed(f"{image}: entry {name!r} escapes the root")
    if info.ischr() or info.isblk() or info.isfifo():
        raise BuildFailed(f"{image}: entry {name!r} is a device or fifo")
    if info.issym() and not info.linkname.startswith("/"):
        target = posixpath.normpath(posixpath.join(posixpath.dirname(name), info.linkname))
        if target.startswith("../") or target == "..":
            raise BuildFailed(f"{image}: symlink {name!r} -> {info.linkname!r} escapes the root")


def _beam_audit(engine: Engine, image: str, release: list[Entry], config: Config) -> Entry:
    """The BEAM call audit of the release (:mod:`builder.audit`), as the file the image records.

    The release's modules are stripped by mix; the copies ``mix compile`` left
    in the release stage's ``_build`` still hold the debug info that shows
    the arguments deciding a call's danger.
    """
    findings = audit_release(_files(release), _unstripped_beams(engine, image), config.otp.source.version,
                             config.audit_allow)
    data = audit_json(findings)
    return Entry(_file_info(AUDIT_PATH.lstrip("/"), len(data), 0o644), data)


def _files(entries: list[Entry]) -> list[tuple[str, bytes]]:
    return [(entry.info.name, entry.data) for entry in entries if entry.data is not None and entry.info.isreg()]


def _unstripped_beams(engine: Engine, image: str) -> list[tuple[str, bytes]]:
    """The regular ``.beam`` files under the release stage's ``_build``, read only.

    Unlike a stage output, nothing here becomes part of the image, so its
    symlinks (mix links each dep's ``priv`` into ``deps/``) are skipped, not
    vetted; the stream is read to its end so the engine's copy closes cleanly.
    """
    beams = []
    with engine.archive_from_image(image, RELEASE_BUILD_DIR) as stream, \
            tarsafe.open(fileobj=stream, mode="r|") as archive:
        for info in archive:
            if info.isreg() and info.name.endswith(".beam"):
                beams.append((info.name, archive.extractfile(info).read()))
    return beams


def _release_versions(release: list[Entry]) -> tuple[str, str]:
    """(app version, ERTS version) from ``releases/start_erl.data``."""
    for entry in release:
        if entry.info.name == "releases/start_erl.data" and entry.data is not None:
            erts, app = entry.data.decode().split()
            return app, erts
    raise BuildFailed("the release has no releases/start_erl.data",
                      hint="is include_erts: false set in mix.exs? the image needs ERTS in the release")


def _check_vm_args(release: list[Entry]) -> None:
    """Refuse a release whose vm.args would set VM flags beyond the allowlist.

    ``build-image verify`` checks the image for the same thing; checking here
    too fails the build before an image exists, even with ``--no-verify``.
    """
    problems = [f"{entry.info.name} line {p.line}: {p.word}: {p.reason}"
                for entry in release if posixpath.basename(entry.info.name) == "vm.args"
                and entry.info.name.startswith("releases/")
                for p in vm_args_problems((entry.data or b"").decode("utf-8", errors="replace"))]
    if problems:
        raise PolicyViolation(
            "the release's vm.args sets VM flags that are decided at build time:\n  "
            + "\n  ".join(problems),
            hint="remove them from rel/vm.args.eex: emulator tuning goes in launcher.vm_flags or as "
                 "allowlisted + flags in vm.args, application settings in config/*.exs")


def _build_info(engine: Engine, otp_image: str) -> dict[str, str]:
    """What the OTP stage recorded about itself (OpenSSL version, flags)."""
    info: dict[str, str] = {}
    for entry in _read_tree(engine, otp_image, "/opt/otp/BUILD-INFO", ""):
        for line in (entry.data or b"").decode().splitlines():
            key, _, value = line.partition(" ")
            info[key] = value
    return info


# ---------------------------------------------------------------------------
# The /app layer


def _app_entries(config: Config, release: list[Entry], launcher: list[Entry]) -> Iterator[Entry]:
    yield _directory(APP)
    kept = {entry.info.name for entry in release if _keep(entry.info.name, config)}
    for entry in release:
        name = entry.info.name
        if entry.data is not None and entry.data.startswith(b"#!"):
            continue  # a script: nothing can run it without a shell
        if name in kept and not (entry.info.islnk() and entry.info.linkname not in kept):
            entry.info.name = f"{APP}/{name}"
            if entry.info.islnk():
                entry.info.linkname = f"{APP}/{entry.info.linkname}"
            yield entry
    binary = launcher[0]
    server = f"{APP}/{contract.BIN_DIR}/{contract.SERVER_COMMAND}"
    yield _directory(f"{APP}/{contract.BIN_DIR}")
    yield Entry(_file_info(server, len(binary.data or b""), 0o755), binary.data)
    # One inode behind every name: the verbs, and the release's own name for
    # the subcommand form (`bin/hello check`), as with the stock start script.
    for verb in (*config.launcher.verbs, config.release):
        link = tarfile.TarInfo(f"{APP}/{contract.BIN_DIR}/{verb}")
        link.type = tarfile.LNKTYPE
        link.linkname = server
        link.mode = 0o755
        yield Entry(link)
    tls_file = f"{APP}/{contract.TLS_OPTIONS_FILE}"
    yield _directory(posixpath.dirname(tls_file))
    config_text = tls_options(contract.DIST_CERTS_MOUNT).encode()
    yield Entry(_file_info(tls_file, len(config_text), 0o644), config_text)
    yield _directory(f"{APP}/{contract.DIST_CERTS_DIR}")


def _keep(name: str, config: Config) -> bool:
    """Whether a release file belongs in the image."""
    if name == "bin" or RELEASE_SCRIPTS.search(name):
        return False
    erts_program = re.match(r"erts-[^/]+/bin/([^/]+)$", name)
    if erts_program:
        program = erts_program.group(1)
        return program in ERTS_PROGRAMS and not (program == "epmd" and config.launcher.epmdless)
    return not re.match(r"erts-[^/]+/(include|lib|doc|man|src)(/|$)", name)


def tls_options(cert_dir: str) -> str:
    """The ``-ssl_dist_optfile`` contents: mutual TLS, peers verified both ways.

    Host names are not checked (nodes are addressed by pod IP); trust comes
    from the dedicated distribution CA, which signs nothing else.
    """
    files = (f'{{certfile, "{cert_dir}/{contract.DIST_CERT}"}}, {{keyfile, "{cert_dir}/{contract.DIST_KEY}"}}, '
             f'{{cacertfile, "{cert_dir}/{contract.DIST_CA}"}}')
    common = f"{files}, {{verify, verify_peer}}, {{versions, ['tlsv1.3']}}"
    return (
        "%% Generated by build-image: TLS distribution with mutual authentication.\n"
        f"[{{server, [{common}, {{fail_if_no_peer_cert, true}}]}},\n"
        f" {{client, [{common}, {{server_name_indication, disable}}]}}].\n"
    )


def _directory(name: str, mode: int = 0o755) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    return Entry(info)


def _file_info(name: str, size: int, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = mode
    return info


# ---------------------------------------------------------------------------
# Deterministic layers and the save archive


def _layer(entries: list[Entry], epoch: int, keep_owner: bool) -> bytes:
    """A tar layer: sorted, times clamped to ``epoch``, owners fixed, no group/other write."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as layer:
        for entry in _in_layer_order(entries):
            info = entry.info
            info.mtime = min(int(info.mtime), epoch) if info.mtime else epoch
            info.uname = info.gname = ""
            if not keep_owner or info.uid not in (0, contract.RUN_UID):
                info.uid = info.gid = 0
            if not info.issym() and not (info.isdir() and info.mode & 0o1000):
                info.mode &= 0o7755 if info.uid == 0 else 0o7777
            info.pax_headers = {}
            layer.addfile(info, io.BytesIO(entry.data) if entry.data is not None else None)
    return buffer.getvalue()


def _in_layer_order(entries: list[Entry]) -> Iterator[Entry]:
    """Sorted by name, except that a hardlink follows the file it links to."""
    links: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.info.islnk():
            links.setdefault(entry.info.linkname, []).append(entry)
    for entry in sorted((e for e in entries if not e.info.islnk()), key=lambda e: e.info.name):
        yield entry
        yield from sorted(links.pop(entry.info.name, []), key=lambda e: e.info.name)
    if links:
        raise BuildFailed(f"hardlinks to files not in the layer: {sorted(links)}")


def _labels(plan: Plan, app_version: str, erts_version: str, build_info: dict[str, str]) -> dict[str, str]:
    config = plan.config
    labels = {
        "org.opencontainers.image.title": plan.release,
        "org.opencontainers.image.version": app_version,
        "org.opencontainers.image.created": _timestamp(config.source_date_epoch),
        **app_source(config.app).labels(),
        f"{LABEL}.erts.version": erts_version,
        f"{LABEL}.openssl.version": build_info.get("openssl", "unknown"),
        f"{LABEL}.launcher.dist_port": str(config.launcher.dist_port),
        f"{LABEL}.launcher.require_tls": str(config.launcher.require_tls).lower(),
        f"{LABEL}.launcher.epmdless": str(config.launcher.epmdless).lower(),
        f"{LABEL}.launcher.verbs": ",".join(config.launcher.verbs),
        f"{LABEL}.launcher.vm_flags": " ".join(config.launcher.vm_flags),
        f"{LABEL}.otp.patches": ",".join(p.name for p in config.otp.patches),
        f"{LABEL}.builder-base": plan.base.reference or plan.base.image,
        **build_labels(plan),  # hardening flags, stage keys, patch checksums, --set overrides
    }
    for source in plan.sources:
        labels[f"{LABEL}.{source.name}.version"] = source.version
        labels[f"{LABEL}.{source.name}.sha256"] = source.sha256
        labels[f"{LABEL}.{source.name}.source"] = source.origin
    return labels


def _timestamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_save_archive(target: Path, config: Config, tag: str, layers: list[bytes],
                        labels: dict[str, str]) -> str:
    """Write the image as a ``docker save`` archive; return its ID (sha256 of its config)."""
    settings = {
        "User": contract.RUN_USER,
        "Entrypoint": [contract.ENTRYPOINT],
        "Env": [f"PATH={contract.APP_ROOT}/{contract.BIN_DIR}", "LANG=C.UTF-8",
                    f"RELEASE_TMP={contract.RELEASE_TMP}", f"HOME={contract.RUN_HOME}"],
        "WorkingDir": contract.APP_ROOT,
        "ExposedPorts": {f"{config.launcher.dist_port}/tcp": {}},
        "Labels": labels,
    }
    with target.open("wb") as out:
        return docker_save.write_save_archive(
            out, tag, layers, settings, created=_timestamp(config.source_date_epoch),
            history=("build-image: run-time root filesystem", "build-image: release and launcher"))
