"""Rewrite one pin in build-image.yaml in place, keeping everything else as written.

A release engineer's file carries comments explaining each pin; a PyYAML
dump would drop them and reorder keys.  ruamel.yaml's round-trip mode keeps
comments, key order, quoting and flow style; the indentation is taken from
the file itself.  Versions are written double-quoted: YAML reads ``1.20`` as
the number 1.2.  The result is validated by :mod:`builder.config` (the
only reader of the file) before it replaces the original, atomically.
"""

from __future__ import annotations

import difflib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from builder import config as config_module
from builder.errors import ConfigError

SOURCE_KEYS = ("url", "path", "debian")


@dataclass(frozen=True)
class NewPin:
    """What one pin becomes: version, sha256 and one source (url pattern filled in, or a suite)."""

    name: str  # the section: otp, elixir, hex or rebar3
    version: str
    sha256: str
    kind: str  # url or debian
    where: str  # the URL, or the Debian suite


def rewrite(path: Path, pin: NewPin) -> tuple[str, str]:
    """(old text, new text) of ``path`` with ``pin`` written into its section; nothing is written."""
    old = path.read_text(encoding="utf-8")
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the user wrote
    mapping, offset = _indentation(old)
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    try:
        data = yaml.load(old)
    except YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    section = data.get(pin.name) if isinstance(data, CommentedMap) else None
    if not isinstance(section, CommentedMap):
        raise ConfigError(f"{path}: {pin.name}: no such section to pin",
                          hint=f"write a {pin.name}: section with version and a source first")
    _set_source(section, pin)
    out = io.StringIO()
    yaml.dump(data, out)
    return old, out.getvalue()


def _indentation(text: str) -> tuple[int, int]:
    """(mapping indent, block sequence dash offset) as the file writes them (default 2 and 0)."""
    mapping = offset = None
    parent = 0
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        column = len(line) - len(stripped)
        if stripped.startswith("- ") and offset is None:
            offset = column - parent
        elif column > 0 and mapping is None and not stripped.startswith("- "):
            mapping = column
        if stripped.rstrip().endswith(":"):
            parent = column
    return mapping or 2, offset or 0


def _set_source(section: CommentedMap, pin: NewPin) -> None:
    """Version and sha256 in place; the source key replaced where the old one stood."""
    position = next((i for i, key in enumerate(section) if key in SOURCE_KEYS), len(section))
    for key in SOURCE_KEYS:
        if key != pin.kind and key in section:
            del section[key]
    value: Any = pin.where
    if pin.kind in section:
        section[pin.kind] = value
    else:
        section.insert(position, pin.kind, value)
    section["version"] = DoubleQuotedScalarString(pin.version)
    if "sha256" in section:
        section["sha256"] = pin.sha256
    else:
        section.insert(list(section).index(pin.kind) + 1, "sha256", pin.sha256)


def unified_diff(path: Path, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        fromfile=f"a/{path.name}", tofile=f"b/{path.name}"))


def replace_validated(path: Path, new: str, *, write: bool) -> config_module.Config:
    """Check ``new`` as build-image.yaml (beside ``path``, so relative paths resolve); write it if asked."""
    draft = path.with_name(f".{path.name}.pin-{os.getpid()}")
    draft.write_text(new, encoding="utf-8")
    try:
        try:
            checked = config_module.load(draft)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace(str(draft), str(path)), hint=exc.hint) from exc
        if write:
            os.replace(draft, path)
        return checked
    finally:
        draft.unlink(missing_ok=True)
