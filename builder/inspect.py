"""``build-image inspect``: what an image is built from, read from the image alone.

A release engineer asks "which images still run OTP 27.3.4.1?" of images,
not of configs: so everything here comes from the image's labels and, when
the image carries one, its SBOM (checked against the label that records
its sha256).  No build-image.yaml is read.  An image assembled before a
label existed lacks that fact; it is reported as unknown, by name, never
guessed from today's defaults.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder import records
from builder.engine_protocol import Engine
from builder.errors import ImageUnreadable

P = records.PREFIX
OCI = "org.opencontainers.image"
SBOM_LABEL = f"{P}.sbom.sha256"
# (section, field, label): the facts shown, in the order shown.
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("app", "name", f"{OCI}.title"),
    ("app", "version", f"{OCI}.version"),
    ("app", "revision", f"{OCI}.revision"),
    ("app", "source", f"{OCI}.source"),
    ("otp", "version", f"{P}.otp.version"),
    ("otp", "sha256", f"{P}.otp.sha256"),
    ("otp", "source", f"{P}.otp.source"),
    ("erts", "version", f"{P}.erts.version"),
    ("elixir", "version", f"{P}.elixir.version"),
    ("elixir", "sha256", f"{P}.elixir.sha256"),
    ("elixir", "source", f"{P}.elixir.source"),
    ("hex", "version", f"{P}.hex.version"),
    ("hex", "sha256", f"{P}.hex.sha256"),
    ("hex", "source", f"{P}.hex.source"),
    ("rebar3", "version", f"{P}.rebar3.version"),
    ("rebar3", "sha256", f"{P}.rebar3.sha256"),
    ("rebar3", "source", f"{P}.rebar3.source"),
    ("openssl", "version", f"{P}.openssl.version"),
    ("hardening", "cflags", records.CFLAGS),
    ("hardening", "ldflags", records.LDFLAGS),
    ("launcher", "dist_port", f"{P}.launcher.dist_port"),
    ("launcher", "require_tls", f"{P}.launcher.require_tls"),
    ("launcher", "epmdless", f"{P}.launcher.epmdless"),
    ("launcher", "verbs", f"{P}.launcher.verbs"),
    ("launcher", "vm_flags", f"{P}.launcher.vm_flags"),
)
# Facts an older image may lack, with what a reader should make of that.
OPTIONAL = {"hex": "no Hex client was pinned", "app.revision": "the app was not in a git repository",
            "app.source": "the app's repository has no remote"}
# Tools pinned only by some projects: an image without their labels did not use them (nothing unknown).
PINNED_IF_USED = frozenset({"hex", "rebar3"})


@dataclass(frozen=True)
class Inspection:
    """What ``inspect`` found: the facts by section, and the facts the image does not record."""

    facts: dict[str, Any]
    unknown: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.facts, "unknown": list(self.unknown)}

    def render_text(self) -> str:
        rows: list[tuple[str, str]] = []
        for section, value in self.facts.items():
            rows += _rows(section, value)
        width = max(len(key) for key, _ in rows)
        lines = [f"{key.ljust(width)}  {text}" for key, text in rows]
        if self.unknown:
            lines.append("")
            lines.append("not recorded in this image (assembled by an older build-image):")
            lines += [f"  {name}" for name in self.unknown]
        return "\n".join(lines)


def inspect_image(engine: Engine, ref: str) -> Inspection:
    """Read ``ref``'s labels (and SBOM) into an :class:`Inspection`."""
    image = engine.image_facts(ref)
    if image is None:
        raise ImageUnreadable(f"the engine has no image {ref!r}",
                              hint="check the name with `docker images`, or pull it first")
    labels = image.labels
    if not any(key.startswith(f"{P}.") for key in labels):
        raise ImageUnreadable(f"{ref} was not assembled by build-image (it has no {P}.* labels)",
                              hint="inspect reads what build-image records; use `docker inspect` for other images")
    facts: dict[str, Any] = {"image": {"reference": ref, "id": image.id}}
    unknown: list[str] = []
    for section, name, label in FIELDS:
        value = labels.get(label)
        if value is None and section in PINNED_IF_USED:
            continue
        if value is None and f"{section}.{name}" not in OPTIONAL:
            unknown.append(f"{section}.{name}")
        facts.setdefault(section, {})[name] = value
    facts["otp"]["patches"] = _patches(labels, unknown)
    stages = records.stage_images(labels)
    facts["stages"] = {"builder-base": labels.get(f"{P}.builder-base"), **stages}
    if not stages:
        unknown.append("stages")
    facts["overrides"] = labels[records.OVERRIDES].split() if records.OVERRIDES in labels else None
    if records.OVERRIDES not in labels:
        unknown.append("overrides")
    facts["sbom"] = _sbom(engine, ref, labels)
    if facts["sbom"] is None:
        unknown.append("sbom")
    return Inspection(facts=facts, unknown=tuple(unknown))


def _patches(labels: Mapping[str, str], unknown: list[str]) -> list[dict[str, str | None]]:
    """Each OTP patch by name, with its sha256 when the image records it."""
    names = [name for name in labels.get(records.PATCHES, "").split(",") if name]
    if records.PATCH_SUMS not in labels:
        unknown.append("otp.patches.sha256")
    sums = records.parse_patch_sums(labels.get(records.PATCH_SUMS, ""))
    return [{"name": name, "sha256": sums.get(name)} for name in names]


def _sbom(engine: Engine, ref: str, labels: Mapping[str, str]) -> dict[str, Any] | None:
    """A summary of the SBOM inside the image: its checksum, components by origin, Hex packages."""
    if SBOM_LABEL not in labels:
        return None
    from builder.publish import read_sbom  # checks the file against its label

    document = json.loads(read_sbom(engine, ref))
    components = document.get("components", [])
    origins: Counter[str] = Counter()
    hex_packages = []
    for component in components:
        part_of = next((p["value"] for p in component.get("properties", [])
                        if p.get("name") == "build-image:part-of"), component.get("name"))
        origins[part_of] += 1
        if part_of == "hex":
            hex_packages.append(f"{component['name']} {component.get('version', '')}".strip())
    return {"path": "/app/sbom.cdx.json", "sha256": labels[SBOM_LABEL], "format": document.get("bomFormat"),
            "spec": document.get("specVersion"), "components": dict(sorted(origins.items())),
            "hex_packages": sorted(hex_packages)}


def _rows(section: str, value: Any) -> list[tuple[str, str]]:
    """Flatten one section into ``(key, text)`` table rows."""
    if section == "otp":
        patches = value.get("patches", [])
        rows = [(f"otp.{k}", _text(v)) for k, v in value.items() if k != "patches"]
        rows += [(f"otp.patch[{i}]", f"{p['name']}  sha256 {p['sha256'] or 'unknown'}")
                 for i, p in enumerate(patches)] or [("otp.patches", "none")]
        return rows
    if isinstance(value, dict):
        return [(f"{section}.{key}", _text(item)) for key, item in value.items()]
    return [(section, _text(value))]


def _text(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return str(value) if value != "" else "none"
