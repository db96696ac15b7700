"""``build-image prune``: remove the stage images no config refers to any more.

Every stage image is tagged ``build-image/<stage>:<key of its inputs>``, so a
changed pin or app leaves the old stage images behind, unreferenced.  The
images the given configs' plans name (the builder base, every stage, the
release-name step) are kept; every other ``build-image/`` tag goes, or all
of them with ``everything``.  Final app images are never touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from builder.engine_protocol import ImageFacts
from builder.plan import TAG_PREFIX, Plan, release_probe


class StageStore(Protocol):
    """What pruning needs of an engine."""

    def tags_under(self, prefix: str) -> dict[str, ImageFacts]:
        ...

    def remove_image(self, ref: str) -> None:
        ...

    def layers_size(self) -> int:
        ...


@dataclass(frozen=True)
class Pruned:
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    freed: int  # bytes, measured as the engine's layer storage before minus after


def referenced(plans: Iterable[Plan]) -> set[str]:
    """The stage images ``plans`` use, including the step that found a release in mix.exs."""
    keep: set[str] = set()
    for plan in plans:
        keep.add(plan.base.image)
        keep.update(stage.image for stage in plan.stages)
        if not plan.config.release_named:
            keep.update(s.image for s in release_probe(plan.config, *plan.sources[:2]).stages)
    return keep


def prune(store: StageStore, keep: set[str], *, everything: bool = False, dry_run: bool = False) -> Pruned:
    """Remove every ``build-image/`` tag not in ``keep`` (all of them with ``everything``)."""
    tags = store.tags_under(f"{TAG_PREFIX}/")
    doomed = sorted(tag for tag in tags if everything or tag not in keep)
    before = store.layers_size()
    if not dry_run:
        for tag in doomed:
            store.remove_image(tag)
    return Pruned(removed=tuple(doomed), kept=tuple(sorted(set(tags) - set(doomed))),
                  freed=0 if dry_run else max(0, before - store.layers_size()))
