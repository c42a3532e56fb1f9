"""Sizes and boxes that several stages share: fitting a frame within a working size, the box around a mask,
growing or shrinking a mask by a disc, shrinking a frame or an id map to a working size and a box of the
full-size frame resampled from the smaller image."""

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


def within(inner: tuple[slice, slice], outer: tuple[slice, slice]) -> tuple[slice, slice]:
    """The box ``inner`` (rows and columns inside the box ``outer``) in ``outer``'s own pixels."""
    return (
        slice(inner[0].start - outer[0].start, inner[0].stop - outer[0].start),
        slice(inner[1].start - outer[1].start, inner[1].stop - outer[1].start),
    )


def shrink_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image (H, W, C)`` uint8 resized to ``size`` (width, height) by area averaging."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def shrink_ids(ids: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An id map ``(H, W)`` resized to ``size`` (width, height) by nearest neighbour: ids are labels, not values."""
    if (ids.shape[1], ids.shape[0]) == size:
        return ids
    return cv2.resize(ids, size, interpolation=cv2.INTER_NEAREST)


def enlarge(
    small: np.ndarray,
    small_size: tuple[int, int],
    full_size: tuple[int, int],
    rows: slice,
    cols: slice,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """The full-size ``rows, cols`` box of a small image ``(h, w)`` or ``(h, w, C)`` resized bilinearly to
    ``full_size`` (width, height), with the same pixel-centre mapping as ``cv2.resize`` but without enlarging
    the rest of the frame; beyond ``small``'s edge its edge pixels are repeated.

    ``small`` may be a crop of the small image whose top-left pixel is ``origin`` (row, column); ``small_size``
    is the whole small image's (width, height)."""
    scale_x, scale_y = small_size[0] / full_size[0], small_size[1] / full_size[1]
    # Full-size pixel (x, y) of the box -> ``small``, through pixel centres.
    to_small = np.array(
        [
            [scale_x, 0, (cols.start + 0.5) * scale_x - 0.5 - origin[1]],
            [0, scale_y, (rows.start + 0.5) * scale_y - 0.5 - origin[0]],
        ]
    )
    return cv2.warpAffine(
        np.ascontiguousarray(small),
        to_small,
        (cols.stop - cols.start, rows.stop - rows.start),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
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
