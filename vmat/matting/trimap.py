"""A trimap from a coarse mask: an unknown band around the boundary, optionally wider where hair is likely.

A coarse mask (propagated, or drawn by hand) is wrong by a few pixels along its whole outline and by much
more around hair, so the band's half-width is a fraction of the frame's longer side (one config suits any
resolution), capped by a fraction of the subject's own height (a small person's head must not vanish into
the band), and, when ``hair_band`` asks for it, widened outwards inside a *head zone*: the given head region
(from the person's head landmarks), or else the top of the silhouette (the rows within ``head`` of its
height from its top), where people's hair is. Only outwards: hair sticks out of a coarse outline, while
inside it the head is solid, and a wide inner band lets the solver thin out faces whose colour is close to
the background's. The default head band is the band itself (see :class:`TrimapConfig`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmat.geometry import morph

UNKNOWN = 0.5  # the trimap's value in the unknown band (0: background, 1: foreground)


@dataclass(frozen=True)
class TrimapConfig:
    """Half-widths are fractions of the image's longer side, never below ``min_pixels``."""

    band: float = 0.015  # the unknown band's half-width along the outline
    # Its half-width in the head zone. No wider than the band by default: a band twice as wide over the top of
    # the silhouette took the branches of a tree behind a short-haired head in, and left a half-transparent
    # ghost of them on a new background (docs/matting.md); on the real-alpha track it gained 1.5% band SAD.
    hair_band: float = 0.015
    band_of_height: float = 0.02  # the band's half-width at most, as a fraction of the subject's height
    hair_band_of_height: float = 0.02  # the head zone's, likewise
    head: float = 0.15  # without a head region: the top fraction of the silhouette's height
    # 3, not 2: on the synthetic suite's 60-140 px people, whose band sits at this floor, 2 px let the matte follow
    # every wobble of propagated masks (flow-warping error 1.60 against 1.53; SAD 0.458 against 0.462).
    min_pixels: int = 3


def top_of_silhouette(mask: np.ndarray, fraction: float) -> np.ndarray:
    """The rows ``(H, W)`` bool within ``fraction`` of ``mask``'s height from its topmost row (empty mask: none)."""
    rows = np.flatnonzero(mask.any(axis=1))
    zone = np.zeros(mask.shape, bool)
    if rows.size:
        zone[rows[0] : rows[0] + max(1, round(fraction * (rows[-1] - rows[0] + 1)))] = True
    return zone


def subject_height(mask: np.ndarray) -> int:
    """Rows from the topmost to the bottommost of ``mask (H, W)`` bool (0 for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def band_pixels(mask: np.ndarray, config: TrimapConfig = TrimapConfig(), longer_side: int | None = None) -> tuple[int, int]:
    """The band's half-widths ``(along the outline, in the head zone)`` in pixels for ``mask (H, W)`` bool;
    ``longer_side``: what the config's frame fractions refer to when ``mask`` is a crop (default: the mask's)."""
    longest = longer_side or max(mask.shape)
    height = subject_height(mask)
    band = min(config.band * longest, config.band_of_height * height)
    wide = min(config.hair_band * longest, config.hair_band_of_height * height)
    return max(config.min_pixels, round(band)), max(config.min_pixels, round(wide))


def inner_pixels(mask: np.ndarray, band: int, config: TrimapConfig = TrimapConfig()) -> int:
    """How far the band of half-width ``band`` reaches into ``mask (H, W)`` bool: ``band``, but never more than
    ``band_of_height`` of the subject's height (at least 1 px). ``min_pixels`` widens the band outwards only: on
    a person a few dozen pixels tall, a floor-wide band on both sides swallowed whole limbs and the torso, and
    the solve, left with no known foreground, made them transparent."""
    return min(band, max(1, round(config.band_of_height * subject_height(mask))))


def trimap_from_mask(
    mask: np.ndarray,
    config: TrimapConfig = TrimapConfig(),
    *,
    head: np.ndarray | None = None,
    others: np.ndarray | None = None,
    longer_side: int | None = None,
) -> np.ndarray:
    """The trimap ``(H, W)`` float32 (0, :data:`UNKNOWN`, 1) of one subject's ``mask (H, W)`` bool.

    ``head (H, W)`` bool: where the wide band applies (default: :func:`top_of_silhouette`). ``others (H, W)``
    bool: other people's pixels; they are known background for this subject, and the band stops where the
    subject meets them (an occlusion edge stays hard), keeping only the part near the real background.
    ``longer_side``: what the config's fractions refer to when ``mask`` is a crop of a frame (default: the mask's).
    """
    band, wide = band_pixels(mask, config, longer_side)
    solid = morph(mask, -inner_pixels(mask, band, config))
    unknown = morph(mask, band) & ~solid
    if wide > band:
        zone = top_of_silhouette(mask, config.head) if head is None else head
        if zone.any():
            unknown |= morph(mask, wide) & ~solid & morph(zone & mask, wide)
    trimap = mask.astype(np.float32)
    if others is not None and others.any():
        background = ~mask & ~others
        unknown &= ~others & morph(background, max(band, wide))
        trimap[others] = 0.0
    trimap[unknown] = UNKNOWN
    return trimap
