"""Where the templates and launcher sources are, installed or in a checkout.

In a wheel they ship inside the package (``builder/dockerfiles``,
``builder/launcher``); in a source checkout or an editable install they are
the top-level directories developers edit.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    inside = _PACKAGE / name
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / name


def dockerfiles_dir() -> Path:
    """The Jinja2 templates of the build stages."""
    return _shipped("dockerfiles")


def launcher_dir() -> Path:
    """The launcher's C sources, Makefile and header template."""
    return _shipped("launcher")


def unit_templates_dir() -> Path:
    """The systemd unit template (inside the package, installed or not)."""
    return _PACKAGE / "unit_templates"
