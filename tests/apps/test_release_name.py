"""``release:`` is optional: the release is the one mix itself would build.

The unit tests cover the config and the plan; the docker tests ask the real
mix (on the cached Elixir stage) about small mix.exs files, through the same
``prepare`` a build uses.
"""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
import yaml

from builder import config as config_module
from builder.build import Progress
from builder.errors import ConfigError
from builder.plan import make_plan
from builder.project import release_from_answer
from builder.render import generated_files
from builder.sources import FetchedSource

REPO = Path(__file__).resolve().parents[2]
PINS = yaml.safe_load((REPO / "tests" / "apps" / "plainapp" / "build-image.yaml").read_text())


def _config(app: Path, **extra: object) -> config_module.Config:
    path = app / "build-image.yaml"
    return config_module.parse({**PINS, **extra}, path)


def _mix_project(tmp_path: Path, project: str) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "mix.exs").write_text(textwrap.dedent(project))
    return app


def _source(tmp_path: Path, name: str) -> FetchedSource:
    path = tmp_path / f"{name}.tar.gz"
    path.write_bytes(name.encode())
    return FetchedSource(name=name, version="1.0", path=path, sha256="0" * 64, origin="test")


def test_without_release_the_config_leaves_release_and_tag_open(tmp_path: Path) -> None:
    config = _config(_mix_project(tmp_path, "defmodule A.MixProject do end\n"))
    assert (config.release, config.tag) == (None, None)
    resolved = config.resolved("my_app", "mix.exs")
    assert (resolved.release, resolved.tag, resolved.release_named) == ("my_app", "my_app:latest", False)


def test_a_given_tag_survives_resolution(tmp_path: Path) -> None:
    config = _config(_mix_project(tmp_path, "defmodule A.MixProject do end\n"), tag="registry/x:1")
    assert config.resolved("my_app", "mix.exs").tag == "registry/x:1"


def test_a_release_found_in_mix_exs_may_not_shadow_a_launcher_command(tmp_path: Path) -> None:
    config = _config(_mix_project(tmp_path, "defmodule A.MixProject do end\n"))
    with pytest.raises(ConfigError, match=r"release \(from mix.exs\): 'server'"):
        config.resolved("server", "mix.exs")


@pytest.mark.parametrize(("answer", "expected"), [
    ("release my_app\n", "my_app"),
    ("printed by mix.exs\nrelease other\n", "other"),
])
def test_the_answer_names_the_release(tmp_path: Path, answer: str, expected: str) -> None:
    config = _config(_mix_project(tmp_path, "defmodule A.MixProject do end\n"))
    assert release_from_answer(answer, config) == expected


@pytest.mark.parametrize(("answer", "message"), [
    ("several a b\n", r"several releases \(a, b\) and no default_release"),
    ("umbrella\n", "umbrella project without releases"),
    ("error boom\n", "could not be evaluated.*boom"),
])
def test_an_answer_without_one_release_says_what_to_write(tmp_path: Path, answer: str, message: str) -> None:
    config = _config(_mix_project(tmp_path, "defmodule A.MixProject do end\n"))
    with pytest.raises(ConfigError, match=message) as raised:
        release_from_answer(answer, config)
    assert raised.value.hint is not None and "release: NAME" in raised.value.hint


def test_the_release_stage_runs_plain_mix_release_unless_the_config_names_one(tmp_path: Path) -> None:
    app = _mix_project(tmp_path, "defmodule A.MixProject do end\n")
    otp, elixir = _source(tmp_path, "otp"), _source(tmp_path, "elixir")
    named = make_plan(_config(app, release="my_app"), otp, elixir)
    found = make_plan(_config(app).resolved("my_app", "mix.exs"), otp, elixir)
    assert "RUN mix release my_app --no-compile" in generated_files(named.stage("release"))["Dockerfile"].decode()
    assert "RUN mix release --no-compile" in generated_files(found.stage("release"))["Dockerfile"].decode()
    assert (found.release, found.tag) == ("my_app", "my_app:latest")


def test_a_plan_needs_the_release_name(tmp_path: Path) -> None:
    app = _mix_project(tmp_path, "defmodule A.MixProject do end\n")
    with pytest.raises(ValueError, match="release name"):
        make_plan(_config(app), _source(tmp_path, "otp"), _source(tmp_path, "elixir"))


# -- the real mix, on the cached Elixir stage ----------------------------------------

def _ask_mix(tmp_path: Path, project: str) -> str:
    from builder.pipeline import prepare

    config = _config(_mix_project(tmp_path, project))
    return prepare(config, Progress(out=io.StringIO())).release


@pytest.mark.docker
def test_mix_picks_default_release_among_several(tmp_path: Path) -> None:
    assert _ask_mix(tmp_path, """
        defmodule Two.MixProject do
          use Mix.Project
          def project, do: [app: :two, version: "0.1.0", default_release: :beta,
                            releases: [alpha: [], beta: []]]
        end
        """) == "beta"


@pytest.mark.docker
def test_several_releases_without_a_default_ask_for_release_in_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"several releases \(alpha, beta\)"):
        _ask_mix(tmp_path, """
            defmodule Two.MixProject do
              use Mix.Project
              def project, do: [app: :two, version: "0.1.0", releases: [alpha: [], beta: []]]
            end
            """)


@pytest.mark.docker
def test_an_umbrella_without_releases_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="umbrella project without releases"):
        _ask_mix(tmp_path, """
            defmodule U.MixProject do
              use Mix.Project
              def project, do: [apps_path: "apps"]
            end
            """)
