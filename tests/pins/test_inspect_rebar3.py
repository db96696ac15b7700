"""``build-image inspect`` shows the rebar3 pin an image was built with, from the labels the assembler writes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from builder import assemble
from builder.inspect import inspect_image
from builder.plan import make_plan
from builder.sources import FetchedSource
from fakes import FakeEngine, example_plan

REBAR3_SHA256 = "4933123a556ba1e7881c0b8b05eb381254b933390657464b420f16206a430bbe"


def _labels(tmp_path: Path, with_rebar3: bool) -> dict[str, str]:
    """The labels assembly writes for the example, built with or without a rebar3 pin."""
    plan = example_plan(tmp_path)
    if with_rebar3:
        deb = tmp_path / "rebar3_3.19.0-1_all.deb"
        deb.write_bytes(b"deb")
        rebar3 = FetchedSource("rebar3", "3.19.0", deb, REBAR3_SHA256, "debian:bookworm/rebar3=3.19.0-1")
        config = dataclasses.replace(plan.config, rebar3=dataclasses.replace(plan.config.elixir, version="3.19.0"))
        plan = make_plan(config, *plan.sources[:2], None, rebar3)
    return assemble._labels(plan, "0.1.0", "15.2.7", {"openssl": "3.0.22-1~deb12u2"})


def test_inspect_shows_the_rebar3_pin_and_its_stage(tmp_path: Path) -> None:
    labels = _labels(tmp_path, with_rebar3=True)
    assert labels["io.build-image.rebar3.version"] == "3.19.0"
    engine = FakeEngine()
    engine.add_image("app:latest", labels)
    found = inspect_image(engine, "app:latest")
    assert found.facts["rebar3"] == {"version": "3.19.0", "sha256": REBAR3_SHA256,
                                     "source": "debian:bookworm/rebar3=3.19.0-1"}
    assert found.facts["stages"]["rebar3"].startswith("build-image/rebar3:")
    text = found.render_text()
    assert "rebar3.version" in text and "debian:bookworm/rebar3=3.19.0-1" in text
    assert not [name for name in found.unknown if name.startswith("rebar3")]


def test_an_image_built_without_rebar3_has_no_rebar3_section_and_nothing_unknown(tmp_path: Path) -> None:
    engine = FakeEngine()
    engine.add_image("app:latest", _labels(tmp_path, with_rebar3=False))
    found = inspect_image(engine, "app:latest")
    assert "rebar3" not in found.facts and "rebar3" not in found.facts["stages"]
    assert not [name for name in found.unknown if name.startswith("rebar3")]
