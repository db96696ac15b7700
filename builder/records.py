"""What an image records about its own build, in labels.

The assembler writes these labels and ``build-image inspect`` reads them
back, with no config at hand: so the names and formats live in one place.
Images assembled before a label existed simply lack it; ``inspect`` then
says the fact is unknown instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from builder.plan import Plan
from builder.sources import sha256_of

PREFIX = "io.build-image"
CFLAGS = f"{PREFIX}.hardening.cflags"
LDFLAGS = f"{PREFIX}.hardening.ldflags"
PATCHES = f"{PREFIX}.otp.patches"
PATCH_SUMS = f"{PREFIX}.otp.patches.sha256"
STAGE = f"{PREFIX}.stage."  # + stage name: the stage's image tag, whose tag is the key of its inputs
OVERRIDES = f"{PREFIX}.overrides"


def build_labels(plan: Plan) -> dict[str, str]:
    """The hardening flags, every stage's key, the OTP patches' checksums and the --set overrides."""
    config = plan.config
    return {
        CFLAGS: " ".join(config.hardening.cflags),
        LDFLAGS: " ".join(config.hardening.ldflags),
        PATCH_SUMS: patch_sums(config.otp.patches),
        **{f"{STAGE}{stage.name}": stage.image for stage in plan.stages},
        OVERRIDES: " ".join(config.overrides),
    }


def patch_sums(patches: Iterable[Path]) -> str:
    """``name=sha256`` of each patch, comma-separated, in the order they are applied."""
    return ",".join(f"{patch.name}={sha256_of(patch)}" for patch in patches)


def parse_patch_sums(value: str) -> dict[str, str]:
    """The inverse of :func:`patch_sums`."""
    return dict(item.split("=", 1) for item in value.split(",") if "=" in item)


def stage_images(labels: Mapping[str, str]) -> dict[str, str]:
    """Stage name → the stage image tag the image was assembled from."""
    return {key[len(STAGE):]: value for key, value in sorted(labels.items()) if key.startswith(STAGE)}
