"""Guidance perturbation: turn exact mattes into the coarse, wrong-in-places masks a user or tracker gives.

Following mask-guided matting in the wild (sec. 4 and 4.2) and MaGGIe (9.1): each person's visible matte is
binarised at a random threshold, then dilated or eroded with a disc whose radius is a random fraction
(beta) of the shorter side of the person's bounding box. Some masks are dropped (the slot says "no
guidance"), and some pairs are merged (one slot holds the union of two people, the other is dropped), so
the model learns neither to trust a mask blindly nor to segment everything it is shown. For sequences
one perturbation is drawn per clip and each frame gets its own small shift, the frame-to-frame jitter of
a propagated mask. :data:`REALISTIC` adds the two other faults of real masks that MaGGIe's perturbation lists:
holes (a propagated mask loses a patch where flow fails) and coarse polygons (a hand-drawn or
tracker-simplified outline, :func:`coarse_polygon`); the default :class:`GuidanceConfig` draws neither, so
its random streams are the ones earlier runs saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vmat.geometry import bounding_box, morph, shift


@dataclass(frozen=True)
class GuidanceConfig:
    """Probabilities and ranges of the perturbation."""

    threshold: tuple[float, float] = (0.1, 0.9)  # binarisation threshold range
    beta: float = 0.1  # largest dilation/erosion radius, as a fraction of the bounding box's shorter side
    erode_probability: float = 0.3  # otherwise dilate
    drop_probability: float = 0.1
    merge_probability: float = 0.1
    max_shift: int = 2  # per-frame jitter in pixels, each axis
    hole_probability: float = 0.0  # a person's mask gets 1-3 holes
    hole_radius: tuple[float, float] = (0.1, 0.25)  # a hole's radius, as a fraction of the box's shorter side
    polygon_probability: float = 0.0  # a person's mask becomes a coarse polygon
    polygon_tolerance: tuple[float, float] = (0.03, 0.1)  # its largest deviation, fraction of the box's shorter side


# Every fault of a real mask, as the eval's "perturbed" guidance and the retrained network see them.
REALISTIC = GuidanceConfig(hole_probability=0.3, polygon_probability=0.3)


@dataclass(frozen=True)
class Perturbation:
    """One draw for ``N`` people, applied to every frame of a sample.

    ``threshold`` ``(N,)``; ``beta`` ``(N,)`` signed (negative erodes); ``dropped`` ``(N,)`` bool;
    ``merged`` ``(into, from)`` or ``None``: person ``from``'s mask joins person ``into``'s slot.
    ``holes``: per person a ``(K, 3)`` array of ``(y, x, radius)``, position as fractions of the mask's
    bounding box and radius as a fraction of its shorter side, so a hole moves with the person;
    ``polygon`` ``(N,)``: a coarse polygon's tolerance (fraction of the box's shorter side, 0 = none).
    """

    threshold: np.ndarray
    beta: np.ndarray
    dropped: np.ndarray
    merged: tuple[int, int] | None
    holes: list[np.ndarray] | None = None
    polygon: np.ndarray | None = None


def draw_perturbation(rng: np.random.Generator, people: int, config: GuidanceConfig = GuidanceConfig()) -> Perturbation:
    threshold = rng.uniform(*config.threshold, people)
    sign = np.where(rng.random(people) < config.erode_probability, -1.0, 1.0)
    beta = sign * rng.uniform(0.0, config.beta, people)
    dropped = rng.random(people) < config.drop_probability
    merged = None
    if people >= 2 and rng.random() < config.merge_probability:
        into, source = rng.choice(people, 2, replace=False)
        merged = (int(into), int(source))
    holes = polygon = None
    # Drawn only when asked for, so a config without them leaves the generator where earlier versions did.
    if config.hole_probability > 0:
        counts = np.where(rng.random(people) < config.hole_probability, rng.integers(1, 4, people), 0)
        holes = [np.column_stack([rng.uniform(0.2, 0.8, (n, 2)), rng.uniform(*config.hole_radius, n)]) for n in counts]
    if config.polygon_probability > 0:
        polygon = np.where(rng.random(people) < config.polygon_probability, rng.uniform(*config.polygon_tolerance, people), 0.0)
    return Perturbation(threshold, beta, dropped, merged, holes, polygon)


def shorter_box_side(mask: np.ndarray) -> int:
    """The shorter side of the mask's bounding box in pixels (0 for an empty mask)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return 0
    return int(min(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))


def coarse_polygon(mask: np.ndarray, tolerance: float) -> np.ndarray:
    """The mask's outer outlines simplified (Douglas-Peucker) to within ``tolerance`` pixels and filled: what
    a click-by-click polygon annotation gives. Inner holes are filled too, as such outlines would."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    out = np.zeros(mask.shape, np.uint8)
    simplified = [cv2.approxPolyDP(c, tolerance, True) for c in contours]
    cv2.fillPoly(out, simplified, 1)
    return out.astype(bool)


def punch_holes(mask: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """``mask`` with discs removed; ``holes`` ``(K, 3)`` rows ``(y, x, radius)`` relative to its bounding box."""
    if len(holes) == 0 or not mask.any():
        return mask.copy()
    rows, cols = bounding_box(mask)
    top, left, height, width = rows.start, cols.start, rows.stop - rows.start, cols.stop - cols.start
    out = mask.astype(np.uint8)
    for y, x, radius in holes:
        centre = (int(round(left + x * (width - 1))), int(round(top + y * (height - 1))))
        cv2.circle(out, centre, max(int(round(radius * min(height, width))), 1), 0, -1)
    return out.astype(bool)


def perturb_guidance(visible: np.ndarray, perturbation: Perturbation, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Guidance masks ``(N, H, W)`` bool from visible mattes ``(N, H, W)`` float in [0, 1].

    An empty result means "no guidance" for that person: dropped, merged into another slot, out of frame,
    or eroded away.
    """
    masks = []
    for k, matte in enumerate(visible):
        mask = matte > perturbation.threshold[k]
        radius = int(round(perturbation.beta[k] * shorter_box_side(mask)))
        mask = morph(mask, radius)
        if perturbation.polygon is not None and perturbation.polygon[k] > 0:
            mask = coarse_polygon(mask, perturbation.polygon[k] * shorter_box_side(mask))
        if perturbation.holes is not None:
            mask = punch_holes(mask, perturbation.holes[k])
        masks.append(shift(mask, *offset))
    guidance = np.stack(masks) if masks else np.zeros(visible.shape, bool)
    if perturbation.merged is not None:
        into, source = perturbation.merged
        guidance[into] |= guidance[source]
        guidance[source] = False
    guidance[perturbation.dropped] = False
    return guidance


def draw_offsets(rng: np.random.Generator, frames: int, config: GuidanceConfig = GuidanceConfig()) -> list[tuple[int, int]]:
    """Independent per-frame shifts in ``[-max_shift, max_shift]`` on each axis."""
    values = rng.integers(-config.max_shift, config.max_shift + 1, (frames, 2))
    return [(int(dy), int(dx)) for dy, dx in values]
