"""mix.lock's git dependencies: which are remote, which repositories the deps stage gets, what is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.errors import ConfigError
from builder.gitdeps import GitDep, git_dependencies, git_inputs

APP = Path(__file__).resolve().parent / "hexumbrella"
GIT_URL = "../../vendor/git_greeter.git"
REV = "0123456789abcdef0123456789abcdef01234567"


def _project(tmp_path: Path, *lines: str) -> Path:
    """A copy of tests/apps/hexumbrella with a mix.lock of ``lines``."""
    app = tmp_path / "hexumbrella"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("sources", "_build", "deps", ".build-image"))
    (app / "mix.lock").write_text("%{\n" + "".join(lines) + "}\n")
    return app


def _line(url: str = GIT_URL, rev: str = REV, name: str = "git_greeter") -> str:
    return f'  "{name}": {{:git, "{url}", "{rev}", []}},\n'


def _bare_repository(path: Path) -> None:
    """What the planner checks of a repository (a build needs a real one)."""
    (path / "objects" / "ab").mkdir(parents=True)
    (path / "objects" / "ab" / "cdef").write_bytes(b"object")
    (path / "HEAD").write_text("ref: refs/heads/main\n")


def test_git_entries_are_read_with_their_commits_and_classified(tmp_path: Path) -> None:
    app = _project(tmp_path, _line(), '  "jason": {:hex, :jason, "1.4.4", "0", [:mix], [], "hexpm", "0"},\n',
                   _line("https://example.invalid/x.git", "f" * 40, "remote"))
    assert git_dependencies(app) == (GitDep("git_greeter", GIT_URL, REV),
                                     GitDep("remote", "https://example.invalid/x.git", "f" * 40))
    assert [dep.remote for dep in git_dependencies(app)] == [False, True]
    assert GitDep("x", "git@github.com:o/x.git", REV).remote
    assert not GitDep("x", "file:///r.git", REV).remote and not GitDep("x", "/r.git", REV).remote


def test_a_relative_url_is_resolved_from_deps_name_and_its_files_enter_the_context(tmp_path: Path) -> None:
    app = _project(tmp_path, _line())
    _bare_repository(app / "vendor" / "git_greeter.git")
    inputs = git_inputs(app)
    assert sorted(inputs.files) == ["app/vendor/git_greeter.git/HEAD", "app/vendor/git_greeter.git/objects/ab/cdef"]
    assert inputs.repositories == ("vendor/git_greeter.git",) and inputs.rewrites == ()


def test_an_absolute_or_file_url_inside_the_project_is_rewritten(tmp_path: Path) -> None:
    app = _project(tmp_path)
    root = app.resolve().as_posix()
    (app / "mix.lock").write_text("%{\n" + _line(f"{root}/vendor/git_greeter.git")
                                  + _line(f"file://{root}/vendor/git_greeter.git", name="other") + "}\n")
    _bare_repository(app / "vendor" / "git_greeter.git")
    assert git_inputs(app).rewrites == (("/build/app/", f"{root}/"), ("file:///build/app/", f"file://{root}/"))


def test_a_vendored_checkout_is_listed_for_its_empty_directories(tmp_path: Path) -> None:
    app = _project(tmp_path, _line("https://example.invalid/git_greeter.git"))
    (app / "deps" / "git_greeter" / ".git").mkdir(parents=True)
    inputs = git_inputs(app)
    assert inputs.repositories == ("deps/git_greeter/.git",) and inputs.files == {}


def test_a_repository_outside_the_project_is_refused_by_name(tmp_path: Path) -> None:
    app = _project(tmp_path, _line("../../../elsewhere.git"))
    _bare_repository(tmp_path / "elsewhere.git")
    with pytest.raises(ConfigError, match=r"mix.lock: git dependency 'git_greeter' \(\.\./\.\./\.\./elsewhere\.git\) "
                                          r"is a repository outside the project"):
        git_inputs(app)


def test_a_local_url_that_is_not_a_repository_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"git dependency 'git_greeter' .* is not a git repository"):
        git_inputs(_project(tmp_path, _line()))


def test_an_absolute_url_is_refused_when_the_project_path_cannot_be_written_safely(tmp_path: Path) -> None:
    app = _project(tmp_path / "odd $(dir)")
    (app / "mix.lock").write_text("%{\n" + _line(f"{app.resolve().as_posix()}/vendor/git_greeter.git") + "}\n")
    _bare_repository(app / "vendor" / "git_greeter.git")
    with pytest.raises(ConfigError, match=r"names the project by its absolute path .* not allowed here"):
        git_inputs(app)


def test_a_lock_entry_that_is_not_an_application_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"git dependency 'x\$\(id\)' is not allowed; expected an application"):
        git_dependencies(_project(tmp_path, _line(name="x$(id)")))
