"""Git dependencies: what mix.lock pins, and where the deps stage finds each repository.

mix fetches a git dependency by running ``git`` in ``deps/<name>`` (``git
remote add origin URL``, ``git fetch``, ``git checkout REV``), so the deps
stage needs git, and it needs the repository at the URL mix.lock records.
The builder base has no git (adding it would change the OTP stage's key for
everyone), so a small **git** stage adds Debian's package, only for projects
whose mix.lock has git dependencies.

A remote URL (``https://``, ``ssh://``, ``git@host:``) is fetched over the
deps stage's network.  A local one is served from the build context, so it
builds offline:

- a relative path is what git makes of it in ``deps/<name>``, as on the
  user's machine (``git: "../../vendor/greeter.git"`` is
  ``vendor/greeter.git`` of the project);
- an absolute path or ``file://`` URL inside the project is rewritten to the
  project's place in the stage (``url.<new>.insteadOf``; the URL mix compares
  with mix.lock stays the one recorded).

Either way the repository's files enter the deps stage's context, and the
directories git needs but a build context drops when empty (``refs/``,
``objects/``) are made again; so are those of a vendored checkout
(``deps/NAME/.git``), which mix reads with git to check it against
mix.lock.  A local repository outside the project cannot be in the build
context: that is an error naming the dependency, before anything is
fetched.  A remote one the deps stage cannot reach fails the build with the
dependencies named and the offline alternatives.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from builder.errors import ConfigError

#: Where the deps stage has the project (dockerfiles/deps.Dockerfile.j2).
STAGE_APP = "/build/app"
# One mix.lock entry: "name": {:git, "url", "40-hex rev", [...]}
_GIT = re.compile(r'^\s*"([^"]+)":\s*\{:git,\s*"([^"]+)",\s*"([0-9a-f]{40})"', re.M)
_SCP_LIKE = re.compile(r"^[^/:]+:")  # user@host:path, host:path
_PLAIN_PATH = re.compile(r"[A-Za-z0-9._/+-]+")  # written into a RUN line of the deps stage
_APP_NAME = re.compile(r"[a-z][a-z0-9_]*")  # a mix dependency is an application name (an atom)


@dataclass(frozen=True)
class GitDep:
    """One git dependency as mix.lock pins it."""

    name: str
    url: str
    rev: str

    @property
    def remote(self) -> bool:
        """Fetched over the network: any URL with a scheme but file://, or git's scp-like form."""
        if "://" in self.url:
            return not self.url.startswith("file://")
        return bool(_SCP_LIKE.match(self.url))


@dataclass(frozen=True)
class GitInputs:
    """What the deps stage needs for the project's git dependencies."""

    deps: tuple[GitDep, ...]
    files: dict[str, Path]  # build-context path -> host file: the local repositories
    rewrites: tuple[tuple[str, str], ...]  # (URL in the stage, URL in mix.lock) for git's insteadOf
    repositories: tuple[str, ...]  # each local repository's git directory, relative to the project


def git_dependencies(app: Path) -> tuple[GitDep, ...]:
    """The git dependencies ``app/mix.lock`` pins, by name."""
    lock = app / "mix.lock"
    text = lock.read_text(encoding="utf-8") if lock.is_file() else ""
    deps = tuple(sorted((GitDep(*match.groups()) for match in _GIT.finditer(text)), key=lambda dep: dep.name))
    for dep in deps:
        if not _APP_NAME.fullmatch(dep.name):
            raise ConfigError(f"{lock}: git dependency {dep.name!r} is not allowed; expected an application "
                              "name (lower-case letters, digits and _)", hint="mix writes mix.lock: run mix deps.get")
    return deps


def git_inputs(app: Path) -> GitInputs:
    """The local repositories to put in the deps stage's context, and the URL rewrites; checked."""
    deps = git_dependencies(app)
    files: dict[str, Path] = {}
    rewrites: set[tuple[str, str]] = set()
    repositories: set[str] = set()
    root = app.resolve()
    for dep in deps:
        if (app / "deps" / dep.name / ".git").is_dir():  # vendored: mix checks its checkout with git
            repositories.add(f"deps/{dep.name}/.git")
        if dep.remote:
            continue
        repository = _local_path(dep, root)
        inside = _inside(dep, repository, root, app)
        repositories.add((inside / ".git" if (repository / ".git").is_dir() else inside).as_posix())
        files.update({f"app/{(inside / p.relative_to(repository)).as_posix()}": p
                      for p in sorted(repository.rglob("*")) if p.is_file() and not p.is_symlink()})
        if not _is_relative(dep.url):
            rewrites.add(_rewrite(dep, root, app))
    return GitInputs(deps, dict(sorted(files.items())), tuple(sorted(rewrites)), tuple(sorted(repositories)))


def _rewrite(dep: GitDep, root: Path, app: Path) -> tuple[str, str]:
    """(stage prefix, host prefix) for git's insteadOf: the project's place here and in the stage."""
    if not _PLAIN_PATH.fullmatch(root.as_posix()):
        raise ConfigError(f"{app / 'mix.lock'}: git dependency {dep.name!r} ({dep.url}) names the project by its "
                          f"absolute path {root.as_posix()!r}, which is not allowed here; expected letters, digits "
                          "and . _ / + - only", hint="use a URL relative to deps/NAME, e.g. "
                                                     "git: \"../../vendor/NAME.git\"")
    prefix = "file://" if dep.url.startswith("file://") else ""
    return f"{prefix}{STAGE_APP}/", f"{prefix}{root.as_posix()}/"


def _is_relative(url: str) -> bool:
    return not url.startswith(("/", "file://"))


def _local_path(dep: GitDep, root: Path) -> Path:
    """The repository a local URL names on this machine (relative ones as git resolves them in deps/NAME)."""
    if dep.url.startswith("file://"):
        return Path(dep.url.removeprefix("file://"))
    if dep.url.startswith("/"):
        return Path(dep.url)
    return Path(posixpath.normpath((root / "deps" / dep.name / dep.url).as_posix()))


def _inside(dep: GitDep, repository: Path, root: Path, app: Path) -> Path:
    """``repository`` relative to the project, or a ConfigError naming the dependency."""
    lock = app / "mix.lock"
    try:
        relative = repository.resolve().relative_to(root)
    except ValueError:
        raise ConfigError(
            f"{lock}: git dependency {dep.name!r} ({dep.url}) is a repository outside the project "
            f"({repository}): only the project directory is in the build context",
            hint="move the repository inside the project (git: \"../../vendor/NAME.git\" is vendor/NAME.git "
                 "of the project, resolved from deps/NAME as git does), or use a remote URL") from None
    if not (repository / "HEAD").is_file() and not (repository / ".git").exists():
        raise ConfigError(f"{lock}: git dependency {dep.name!r} ({dep.url}) is not a git repository at "
                          f"{repository}", hint="create it there (git init --bare, push the pinned commit)")
    if not _PLAIN_PATH.fullmatch(relative.as_posix()):
        raise ConfigError(f"{lock}: git dependency {dep.name!r}: the repository's path {relative.as_posix()!r} is "
                          "not allowed; expected letters, digits and . _ / + - only",
                          hint="rename the directory (its path is written into the deps stage's Dockerfile)")
    return relative
