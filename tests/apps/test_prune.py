"""``build-image prune``: stage images no config uses go, the ones in use and app images stay.

Against a store held in memory: pruning the real engine in a test would
remove the stage cache other builds on this machine rely on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.engine_protocol import ImageFacts
from builder.prune import prune, referenced
from fakes import example_plan


@dataclass
class Store:
    tags: dict[str, int]  # tag -> bytes its layers take alone
    removed: list[str] = field(default_factory=list)

    def tags_under(self, prefix: str) -> dict[str, ImageFacts]:
        return {tag: ImageFacts(id=tag, size=size, user="", entrypoint=(), labels={})
                for tag, size in self.tags.items() if tag.startswith(prefix)}

    def remove_image(self, ref: str) -> None:
        self.removed.append(ref)
        del self.tags[ref]

    def layers_size(self) -> int:
        return sum(self.tags.values())


def _store(tmp_path: Path) -> tuple[Store, set[str]]:
    keep = referenced([example_plan(tmp_path)])
    old = {"build-image/otp:0000000000000000": 300, "build-image/release-hello:1111111111111111": 20}
    return Store({**{tag: 1 for tag in keep}, **old, "hello:latest": 30}), keep


def test_only_unreferenced_stage_images_go(tmp_path: Path) -> None:
    store, keep = _store(tmp_path)
    pruned = prune(store, keep)
    assert pruned.removed == ("build-image/otp:0000000000000000", "build-image/release-hello:1111111111111111")
    assert set(pruned.kept) == keep and pruned.freed == 320 and "hello:latest" in store.tags


def test_the_plan_keeps_its_base_and_every_stage(tmp_path: Path) -> None:
    plan = example_plan(tmp_path)
    assert referenced([plan]) == {plan.base.image, *(stage.image for stage in plan.stages)}


def test_all_removes_every_stage_image_but_no_app_image(tmp_path: Path) -> None:
    store, keep = _store(tmp_path)
    pruned = prune(store, keep, everything=True)
    assert not pruned.kept and set(store.tags) == {"hello:latest"}


def test_a_dry_run_removes_nothing(tmp_path: Path) -> None:
    store, keep = _store(tmp_path)
    pruned = prune(store, keep, dry_run=True)
    assert len(pruned.removed) == 2 and not store.removed and pruned.freed == 0
