"""What the app's own repository says about it: revision, source URL, licenses.

These become the standard ``org.opencontainers.image.{revision,source,licenses}``
labels and the provenance's external parameters.  The revision is the last
commit that touched the app's directory, not the repository's HEAD: in a
monorepo an unrelated commit must not change the image's digest.  An app
with uncommitted changes gets ``-dirty`` appended, so an image is never
attributed to a commit it was not built from.
"""

from __future__ import annotations

import re
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from builder.runner import run

# mix.exs: `licenses: ["Apache-2.0", "MIT"]` in the package keyword list (Hex's convention).
_LICENSES = re.compile(r"\blicenses:\s*\[([^\]]*)\]")
_STRING = re.compile(r'"([^"\\]+)"')


@dataclass(frozen=True)
class AppSource:
    revision: str | None
    url: str | None
    licenses: str | None  # an SPDX expression

    def labels(self) -> dict[str, str]:
        """The standard OCI labels for what is known; unknown ones are left out, never guessed."""
        known = {"revision": self.revision, "source": self.url, "licenses": self.licenses}
        return {f"org.opencontainers.image.{key}": value for key, value in known.items() if value}


def app_source(app: Path) -> AppSource:
    return AppSource(revision=_revision(app), url=_origin(app), licenses=_licenses(app / "mix.exs"))


def _git(app: Path, *args: str) -> str | None:
    """git's answer in ``app``, or None when git is missing or ``app`` is no work tree."""
    if shutil.which("git") is None:
        return None
    done = run(["git", "-C", app, *args], check=False)
    return done.stdout.decode().strip() if done.returncode == 0 else None


def _revision(app: Path) -> str | None:
    commit = _git(app, "log", "-1", "--format=%H", "--", ".")
    if not commit:
        return None
    dirty = _git(app, "status", "--porcelain", "--", ".")
    return f"{commit}-dirty" if dirty else commit


def _origin(app: Path) -> str | None:
    """``remote.origin.url`` without any user or token in it."""
    url = _git(app, "remote", "get-url", "origin")
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme and parts.hostname:
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url.split("@", 1)[-1] if "@" in url and ":" in url else url


def _licenses(mix_exs: Path) -> str | None:
    match = _LICENSES.search(mix_exs.read_text(encoding="utf-8", errors="replace")) if mix_exs.is_file() else None
    names = _STRING.findall(match.group(1)) if match else []
    return " AND ".join(names) or None
