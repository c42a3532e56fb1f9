"""Sizes and boxes that several stages share: fitting a frame within a working size, and the box around a mask."""

from __future__ import annotations

import numpy as np


def processing_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled so the longer side is at most ``max_side`` (unchanged when ``None`` or smaller)."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[slice, slice]:
    """Rows and columns of ``mask``'s true pixels (it must have some), grown by ``margin`` and clipped to it."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    height, width = mask.shape
    return (
        slice(max(0, rows[0] - margin), min(height, rows[-1] + margin + 1)),
        slice(max(0, cols[0] - margin), min(width, cols[-1] + margin + 1)),
    )
