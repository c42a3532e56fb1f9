"""Each person's colour carried with their matte through the temporal stage, premultiplied.

The stage holds a matte where the picture is still (fusion, eq. 12-13) and mixes in the previous frame's
matte carried by the flow (the flow blend), so a pixel can keep coverage its own frame gave the person no
longer, for instance where the person's mask passed to someone else. The per-frame decomposer gave the
person no colour there (outside their box it is 0), and a held matte with no colour composites black.
The coverage came from an earlier frame, and so must its colour.

Every rule in the stage is a per-pixel weighted mean of mattes (eq. 12-13, the flow blend) or a choice
between them (eq. 14). Applied alike to ``alpha`` and the premultiplied colour ``alpha F`` (a ``(4, H, W)``
matte, alpha first), it gives each pixel the coverage-weighted mean of the colours its coverage came from:
where the frame's own matte is taken, the frame's own colour; where a matte is held, the colour it was held
with. Straight colour mixed with the same weights would let a held 0.9 of coverage take the colour of the
frame's own 0.0.
"""

from __future__ import annotations

import numpy as np

from vmat.geometry import bounding_box

# Below this coverage the carried colour is too faint to divide out; the frame's own colour stays.
MIN_COVERAGE = 1e-4


def premultiply(alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``(4, H, W)`` float32: ``alpha (H, W)`` and ``alpha * colour``, ``colour (3, H, W)`` straight."""
    matte = np.zeros((4, *alpha.shape), np.float32)
    matte[0] = alpha
    covered = alpha > 0
    if covered.any():
        box = bounding_box(covered)  # a person covers a part of the frame; outside it the colour is 0
        np.multiply(matte[(0, *box)], colour[(slice(None), *box)], out=matte[(slice(1, None), *box)])
    return matte


def alpha_of(matte: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` alpha of a matte: an ``(H, W)`` alpha itself, or the first channel of a ``(C, H, W)`` one."""
    return matte if matte.ndim == 2 else matte[0]


def unpremultiply(matte: np.ndarray, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(alpha (H, W), straight colour (3, H, W))`` of a premultiplied ``(4, H, W)`` matte; ``own (3, H, W)``,
    the frame's own straight colour, where the coverage is below :data:`MIN_COVERAGE`."""
    alpha = matte[0]
    covered = alpha >= MIN_COVERAGE
    colour = np.where(covered, matte[1:] / np.where(covered, alpha, 1.0), own)
    return alpha, np.clip(colour, 0.0, 1.0).astype(np.float32)


def raised_pixels(matte: np.ndarray, own_alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, columns)`` where the premultiplied ``(4, H, W)`` ``matte`` raised alpha above ``own_alpha (H, W)``,
    the person's own frame's (by at least :data:`MIN_COVERAGE` in all)."""
    alpha = matte[0]
    rows, columns = np.nonzero((alpha > own_alpha) & (alpha >= MIN_COVERAGE))
    return rows, columns


def raised_colour(
    matte: np.ndarray, own_alpha: np.ndarray, own_colour: np.ndarray, pixels: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``(3, N)`` straight colours at the ``N`` ``pixels`` of :func:`raised_pixels` for a person whose own frame
    gave ``own_alpha (H, W)`` and ``own_colour (3, H, W)`` and the stage the premultiplied ``(4, H, W)`` ``matte``.

    The coverage the frame gives itself keeps the frame's colour; only what the stage added above it takes the
    carried colour. Everywhere the stage kept or lowered alpha the colour stays the frame's own, as before: on a
    moving striped shirt, whose picture drifts under the change threshold, a held colour would smear the
    stripes (the demo, frame 19), while a held alpha of 1 over a 1 is harmless.
    """
    total, own = matte[0][pixels], own_alpha[pixels]
    carried = matte[1:, pixels[0], pixels[1]] / total
    mixed = (own * own_colour[:, pixels[0], pixels[1]] + (total - own) * carried) / total
    return np.clip(mixed, 0.0, 1.0).astype(np.float32)
