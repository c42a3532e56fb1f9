"""Carrying a moving camera's frames onto its canvas and back, over the boxes that matter.

A moving camera's clean plate (and a removed person's ground, :mod:`vmat.editing.leftovers`) is summed on
a canvas in one frame's coordinates, up to nine frames in size: each frame is warped onto the box of the
canvas it lands on, and what a frame reads back is warped from the box of the canvas its box reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from vmat.camera import frame_corners


def shifted(homography: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """``homography`` followed by moving the origin to the crop's corner."""
    return np.array([[1, 0, -cols.start], [0, 1, -rows.start], [0, 0, 1]], np.float64) @ homography


def landing_box(homography: np.ndarray, shape: tuple[int, ...], size: tuple[int, int]) -> tuple[slice, slice] | None:
    """The box of a ``size`` (width, height) canvas that a frame of ``shape`` (height, width, ...) lands on
    through ``homography``: its corners' box (a homography keeps a frame a quadrilateral), grown by two
    pixels for the bilinear warp's reach; ``None`` when it misses the canvas."""
    corners = frame_corners(shape[1], shape[0])
    corners[:, 0] += [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]  # the corner pixels' outer edges
    placed = cv2.perspectiveTransform(corners, homography)[:, 0]
    low = np.floor(placed.min(axis=0)).astype(int) - 2
    high = np.ceil(placed.max(axis=0)).astype(int) + 3
    left, top = max(0, low[0]), max(0, low[1])
    right, bottom = min(size[0], high[0]), min(size[1], high[1])
    if right <= left or bottom <= top:
        return None
    return slice(int(top), int(bottom)), slice(int(left), int(right))


def reading_box(box: tuple[slice, slice], to_canvas: np.ndarray, size: tuple[int, int]) -> tuple[slice, slice]:
    """The pixels of a ``size`` (width, height) canvas that a frame's ``box`` reads when warped from the
    canvas through ``to_canvas`` (frame pixels -> canvas pixels; bilinear: a pixel more each side)."""
    rows, cols = box
    if rows.start >= rows.stop:
        return box
    left, top, right, bottom = cols.start, rows.start, cols.stop - 1, rows.stop - 1
    corners = np.array([[[left, top]], [[right, top]], [[left, bottom]], [[right, bottom]]], np.float64)
    placed = cv2.perspectiveTransform(corners, to_canvas)[:, 0]
    (x0, y0), (x1, y1) = np.floor(placed.min(0)) - 2, np.ceil(placed.max(0)) + 3
    width, height = size
    return (
        slice(int(np.clip(y0, 0, height)), int(np.clip(y1, 0, height))),
        slice(int(np.clip(x0, 0, width)), int(np.clip(x1, 0, width))),
    )


def warp(image: np.ndarray, seen: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp a background image and its seen mask; a warped pixel counts as seen only when every source
    pixel it interpolates was seen."""
    colour = cv2.warpPerspective(image, homography, size, flags=cv2.INTER_LINEAR)
    return colour, warp_masks([seen], homography, size)[0]


def warp_masks(masks: Sequence[np.ndarray], homography: np.ndarray, size: tuple[int, int]) -> list[np.ndarray]:
    """Warp ``(H, W)`` bool masks in one call; a warped pixel is in a mask only where every source pixel
    it interpolates was."""
    stacked = np.stack(masks, axis=-1).astype(np.uint8) * 255
    warped = cv2.warpPerspective(stacked, homography, size).reshape(size[1], size[0], len(masks))
    return [warped[..., k] == 255 for k in range(len(masks))]


class Landed(NamedTuple):
    """A frame carried onto the box of a canvas it lands on (:func:`onto_canvas`)."""

    box: tuple[slice, slice]  # canvas rows and columns
    homography: np.ndarray  # (3, 3): frame pixels -> the box's pixels
    colour: np.ndarray  # (h, w, C), the box's size
    seen: np.ndarray  # (h, w) bool


def onto_canvas(colour: np.ndarray, seen: np.ndarray, to_canvas: np.ndarray, size: tuple[int, int]) -> Landed | None:
    """A frame's ``colour`` ``(H, W, C)`` and ``seen`` ``(H, W)`` bool warped through ``to_canvas`` (frame pixels
    -> canvas pixels) onto the box of a ``size`` (width, height) canvas it lands on (:func:`landing_box`):
    the values of warping onto the whole canvas, there; ``None`` when the frame misses the canvas."""
    box = landing_box(to_canvas, seen.shape, size)
    if box is None:
        return None
    rows, cols = box
    homography = shifted(to_canvas, rows, cols)
    warped, warped_seen = warp(colour, seen, homography, (cols.stop - cols.start, rows.stop - rows.start))
    return Landed(box, homography, warped, warped_seen)


def accumulate_in(
    sums: np.ndarray,
    box: tuple[slice, slice],
    value: np.ndarray,
    mask: np.ndarray,
    accumulate: Callable[..., np.ndarray] = cv2.accumulate,
) -> None:
    """``accumulate`` (``cv2.accumulate`` or ``cv2.accumulateSquare``) ``value`` into ``sums[box]`` where
    ``mask`` (uint8) is set. OpenCV accumulates into contiguous arrays only: the box's sums are copied out
    and back (numpy's masked add in place is ten times slower)."""
    inside = np.ascontiguousarray(sums[box])
    accumulate(value, inside, mask)
    sums[box] = inside
