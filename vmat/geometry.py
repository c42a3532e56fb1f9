"""Sizes and boxes that several stages share: fitting a frame within a working size, the box around a mask,
and growing or shrinking a mask by a disc."""

from __future__ import annotations

import cv2
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


def morph(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask (H, W)`` bool dilated by a disc of ``radius`` pixels, or eroded when ``radius`` is negative."""
    if radius == 0:
        return mask.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1, 2 * abs(radius) + 1))
    operation = cv2.dilate if radius > 0 else cv2.erode
    return operation(mask.astype(np.uint8), disc).astype(bool)


def shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``mask (H, W)`` moved by ``(dy, dx)`` pixels; what enters from the border is empty."""
    height, width = mask.shape
    out = np.zeros_like(mask)
    out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = mask[
        max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
    ]
    return out
