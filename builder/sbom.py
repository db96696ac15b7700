"""The image's SBOM: CycloneDX 1.6 JSON, made from what the assembler put in.

Scanners read Debian's package database and language lock files; they
cannot see what build-image compiled (OTP, Elixir, the launcher) nor the
OpenSSL linked statically into ``crypto.so``.  So the assembler writes
the SBOM itself, from the same entries it packs into the layers: every
Debian package of the run-time root filesystem (``var/lib/dpkg/status.d``),
every application of the release, the Hex packages of ``mix.lock``, the
pinned sources with their checksums and patches, and the launcher with its
build settings.

Identical inputs give byte-identical JSON: the timestamp is
SOURCE_DATE_EPOCH, every bom-ref is chosen here, and the serial number is
derived from the rest of the document.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.parser import Parser
from importlib.metadata import version as installed_version
from pathlib import Path

from cyclonedx.model import AttachedText, HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import (
    Component,
    ComponentType,
    Diff,
    Patch,
    PatchClassification,
    Pedigree,
)
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id
from debian.copyright import Copyright, FilesParagraph, Header, License
from debian.copyright import Error as CopyrightError
from packageurl import PackageURL

from builder.appsource import AppSource
from builder.config import Config
from builder.sources import FetchedSource

#: Where the SBOM is in the image (and its name beside the build output).
SBOM_PATH = "/app/sbom.cdx.json"
SBOM_NAME = "sbom.cdx.json"
DPKG_STATUS = "var/lib/dpkg/status.d/"
DOC = "usr/share/doc"  # each package's copyright file: DOC/<package>/copyright
PROPERTY = "build-image"
# Applications that come with Elixir; the rest of a release is OTP's, Hex's or the app's.
ELIXIR_APPLICATIONS = frozenset({"eex", "elixir", "ex_unit", "iex", "logger", "mix"})
# OTP 27's applications (lib/ of an OTP install), to tell them from the app's own.
OTP_APPLICATIONS = frozenset({
    "asn1", "common_test", "compiler", "crypto", "debugger", "dialyzer", "diameter", "edoc", "eldap",
    "erl_docgen", "erl_interface", "erts", "et", "eunit", "ftp", "inets", "jinterface", "kernel", "megaco",
    "mnesia", "observer", "odbc", "os_mon", "parsetools", "public_key", "reltool", "runtime_tools", "sasl",
    "snmp", "ssh", "ssl", "stdlib", "syntax_tools", "tftp", "tools", "wx", "xmerl",
})
_RELEASE_APP = re.compile(r"^lib/([a-z][a-z0-9_]*)-([^/]+)/ebin/\1\.app$")
_RELEASE_ERTS = re.compile(r"^(erts)-([^/]+)/bin/beam\.smp$")
# One mix.lock entry: "name": {:hex, :package, "version", "inner", [...], [...], "repo", "outer"}
_HEX = re.compile(r'^\s*"[^"]+":\s*\{:hex,\s*:"?([a-z0-9_]+)"?,\s*"([^"]+)",\s*"([0-9a-f]{64})",'
                  r'.*"([^"]+)",\s*"([0-9a-f]{64})"\},?\s*$')
APACHE = "Apache-2.0"


def make_sbom(*, config: Config, release: str, tag: str, sources: Iterable[FetchedSource], app_version: str,
              app: AppSource,
              build_info: Mapping[str, str], release_files: Iterable[str], runtime_files: Mapping[str, bytes],
              launcher: bytes) -> bytes:
    """The CycloneDX 1.6 JSON document of the image's contents."""
    pinned = {source.name: source for source in sources}
    hex_packages = _hex_packages(config.app / "mix.lock")
    components = [
        _otp(pinned["otp"], config.otp.patches),
        _elixir(pinned["elixir"]),
        _openssl(build_info, config.bases.debian_suite),
        _launcher(config, launcher),
        *_applications(release_files, release, app, hex_packages),
        *hex_packages.values(),
        *_debian(runtime_files, config.bases.debian_suite),
    ]
    root = Component(name=release, version=app_version, type=ComponentType.CONTAINER,
                     bom_ref=f"image:{tag}", licenses=_licenses(app.licenses),
                     description=f"{tag}: the release {release} on a distroless Debian "
                                 f"{config.bases.debian_suite} run-time base, assembled by build-image")
    bom = Bom(components=components,
              metadata=BomMetaData(component=root, timestamp=datetime.fromtimestamp(
                  config.source_date_epoch, tz=UTC)),
              serial_number=uuid.UUID(int=0))
    bom.metadata.tools.components.add(Component(
        name="build-image", version=installed_version("build-image"), type=ComponentType.APPLICATION,
        bom_ref="tool:build-image", licenses=[DisjunctiveLicense(id=APACHE)]))
    bom.dependencies.add(Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in components]))
    # The serial number names this document: derived from its content, it is the same for the same inputs.
    draft = _render(bom)
    bom.serial_number = uuid.UUID(bytes=hashlib.sha256(draft).digest()[:16], version=5)
    return _render(bom)


def _render(bom: Bom) -> bytes:
    return (JsonV1Dot6(bom).output_as_string(indent=2) + "\n").encode()


def _sha256(hexdigest: str) -> HashType:
    return HashType(alg=HashAlgorithm.SHA_256, content=hexdigest)


def _licenses(expression: str | None) -> list[LicenseExpression]:
    return [LicenseExpression(expression)] if expression else []


def _properties(**values: object) -> list[Property]:
    return [Property(name=f"{PROPERTY}:{key}", value=str(value)) for key, value in sorted(values.items())]


# ---------------------------------------------------------------------------
# What build-image compiled


def _otp(source: FetchedSource, patches: Iterable[Path]) -> Component:
    applied = [Patch(type=PatchClassification.UNOFFICIAL,
                     diff=Diff(text=AttachedText(content=patch.read_text(encoding="utf-8", errors="replace"),
                                                 content_type="text/x-diff")))
               for patch in patches]
    return Component(
        name="otp", group="erlang", version=source.version, bom_ref="source:otp",
        purl=PackageURL("github", "erlang", "otp", f"OTP-{source.version}"),
        cpe=f"cpe:2.3:a:erlang:erlang\\/otp:{source.version}:*:*:*:*:*:*:*",
        hashes=[_sha256(source.sha256)], licenses=[DisjunctiveLicense(id=APACHE)],
        pedigree=Pedigree(patches=applied) if applied else None,
        properties=_properties(origin=source.origin, tarball=source.path.name,
                               patches=",".join(p.name for p in patches)),
        description="Erlang/OTP compiled from the pinned source tarball with hardening flags")


def _elixir(source: FetchedSource) -> Component:
    return Component(
        name="elixir", group="elixir-lang", version=source.version, bom_ref="source:elixir",
        purl=PackageURL("github", "elixir-lang", "elixir", f"v{source.version}"),
        cpe=f"cpe:2.3:a:elixir-lang:elixir:{source.version}:*:*:*:*:*:*:*",
        hashes=[_sha256(source.sha256)], licenses=[DisjunctiveLicense(id=APACHE)],
        properties=_properties(origin=source.origin, tarball=source.path.name),
        description="Elixir compiled from the pinned source tarball")


def _openssl(build_info: Mapping[str, str], suite: str) -> Component:
    """The libcrypto linked statically into crypto.so: Debian's libssl-dev in the builder base."""
    debian_version = build_info.get("openssl", "unknown")
    upstream = debian_version.split("-", 1)[0].split(":", 1)[-1]
    return Component(
        name="openssl", version=upstream, bom_ref="static:openssl",
        purl=PackageURL("deb", "debian", "libssl-dev", debian_version,
                        qualifiers={"arch": "amd64", "distro": suite}),
        cpe=f"cpe:2.3:a:openssl:openssl:{upstream}:*:*:*:*:*:*:*", licenses=[DisjunctiveLicense(id=APACHE)],
        properties=_properties(**{"linked-into": "lib/crypto-*/priv/lib/crypto.so", "linkage": "static",
                                  "debian-version": debian_version}),
        description="OpenSSL's libcrypto, statically linked into OTP's crypto NIF (invisible to scanners)")


def _launcher(config: Config, binary: bytes) -> Component:
    launcher = config.launcher
    return Component(
        name="build-image-launcher", version=installed_version("build-image"), type=ComponentType.APPLICATION,
        bom_ref="launcher", hashes=[_sha256(hashlib.sha256(binary).hexdigest())],
        licenses=[DisjunctiveLicense(id=APACHE)],
        properties=_properties(cflags=" ".join(config.hardening.cflags), ldflags=" ".join(config.hardening.ldflags),
                               dist_port=launcher.dist_port, require_tls=str(launcher.require_tls).lower(),
                               epmdless=str(launcher.epmdless).lower(), verbs=",".join(launcher.verbs),
                               vm_flags=" ".join(launcher.vm_flags)),
        description="build-image's C launcher (/app/bin/server and every verb), replacing the start scripts")


# ---------------------------------------------------------------------------
# The release, mix.lock and the run-time root filesystem


def _applications(release_files: Iterable[str], release: str, app: AppSource,
                  hex_packages: Mapping[str, Component]) -> Iterator[Component]:
    """One component per application in the release (``lib/<app>-<vsn>/ebin/<app>.app``), and ERTS."""
    for name, version in sorted(m.groups() for f in release_files
                                if (m := _RELEASE_APP.match(f) or _RELEASE_ERTS.match(f))):
        if name in hex_packages:
            continue  # described by its Hex package, with its checksum
        part_of = ("otp" if name in OTP_APPLICATIONS else "elixir" if name in ELIXIR_APPLICATIONS
                   else "app")
        yield Component(
            name=name, version=version, bom_ref=f"app:{name}@{version}",
            purl=PackageURL("otp", None, name, version),
            licenses=_licenses(APACHE if part_of != "app" else app.licenses if name == release else None),
            properties=_properties(**{"part-of": part_of}))


def _hex_packages(mix_lock: Path) -> dict[str, Component]:
    """Hex packages pinned in ``mix.lock``, by application name, with their outer (tarball) checksums."""
    found = {}
    text = mix_lock.read_text(encoding="utf-8") if mix_lock.is_file() else ""
    for line in text.splitlines():
        match = _HEX.match(line)
        if match:
            package, version, _inner, repository, outer = match.groups()
            found[package] = Component(
                name=package, version=version, bom_ref=f"hex:{package}@{version}",
                purl=PackageURL("hex", None, package, version,
                                qualifiers={} if repository == "hexpm" else {"repository_url": repository}),
                hashes=[_sha256(outer)], properties=_properties(**{"part-of": "hex"}))
    return found


def _debian(runtime_files: Mapping[str, bytes], suite: str) -> Iterator[Component]:
    """Every package of the run-time root filesystem, from its ``status.d`` record (with its .deb's SHA256).

    ``<package>.md5sums`` beside each record is the package's file list (for verify), not a package.
    """
    for path in sorted(p for p in runtime_files if p.startswith(DPKG_STATUS) and not p.endswith(".md5sums")):
        record = Parser().parsestr(runtime_files[path].decode("utf-8", errors="replace"))
        name, version, arch = record["Package"], record["Version"], record["Architecture"]
        source = (record["Source"] or name).split(" ", 1)[0]
        yield Component(
            name=name, version=version, bom_ref=f"deb:{name}@{version}?arch={arch}",
            purl=PackageURL("deb", "debian", name, version,
                            qualifiers={"arch": arch, "distro": suite,
                                        **({"upstream": source} if source != name else {})}),
            hashes=[_sha256(record["SHA256"])] if record["SHA256"] else [],
            licenses=[_declared(short) for short in deb_licenses(runtime_files.get(f"{DOC}/{name}/copyright"))],
            properties=_properties(**{"part-of": "debian"}))


def deb_licenses(copyright_file: bytes | None) -> list[str]:
    """The license short names a DEP-5 copyright file declares, in order, each once.

    Only machine-readable files count (a ``Format:`` header): the ``License:``
    of the header and of every ``Files:`` paragraph, which is what the
    package's files are under.  Stand-alone ``License:`` paragraphs only hold
    texts.  A free-form file, one that does not parse, or none at all (the
    runtime stage drops doc symlinks, so packages documented under another
    package's name have none) gives no license: reading prose would be a guess.
    """
    if copyright_file is None:
        return []
    try:
        parsed = Copyright(copyright_file.decode("utf-8", errors="replace").splitlines(keepends=True), strict=False)
    except (CopyrightError, ValueError):
        return []
    paragraphs: list[Header | FilesParagraph] = [parsed.header, *parsed.all_files_paragraphs()]
    return list(dict.fromkeys(name for paragraph in paragraphs if (name := _license_of(paragraph))))


def _license_of(paragraph: Header | FilesParagraph) -> str | None:
    """The short name (first line) of a paragraph's ``License:`` field, if it has one."""
    try:
        field = License.from_str(str(paragraph["License"]))
    except KeyError:
        return None
    return field.synopsis.strip() if field is not None else None


def _declared(short_name: str) -> DisjunctiveLicense:
    """A license as its package declares it: an SPDX id when the name is one, Debian's own name otherwise.

    Debian's short names (``GPL-2+``, ``public-domain``) are kept verbatim
    rather than translated, so nothing is claimed the file does not say.
    """
    spdx_id = fixup_id(short_name)
    if spdx_id is not None:
        return DisjunctiveLicense(id=spdx_id, acknowledgement=LicenseAcknowledgement.DECLARED)
    return DisjunctiveLicense(name=short_name, acknowledgement=LicenseAcknowledgement.DECLARED)
