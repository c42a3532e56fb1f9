"""The maths of flow-based mask propagation: warping, occlusion test, edge-aware snapping.

Flows are ``(H, W, 2)`` float32 arrays of ``(dx, dy)`` in pixels. A *backward* flow of frame t gives, for
every pixel of t, where it was in frame t-1; warping samples frame t-1's data there.
"""

from __future__ import annotations

import cv2
import numpy as np


def sampling_maps(flow: np.ndarray, origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps ``(H, W)`` float32 x and y that sample at ``pixel + flow``; ``origin`` ``(row,
    column)``: ``flow`` is the crop of a larger field starting there, and the maps are in its pixels."""
    height, width = flow.shape[:2]
    top, left = origin
    xs, ys = np.meshgrid(np.arange(left, left + width, dtype=np.float32), np.arange(top, top + height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(data: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample ``data`` (``(H, W)`` or ``(H, W, C)``, C <= 4) at ``pixel + flow``; outside the frame copies the edge."""
    map_x, map_y = sampling_maps(flow)
    return cv2.remap(data, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def _squared_length(flow: np.ndarray) -> np.ndarray:
    return flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]


def occlusion_mask(
    backward: np.ndarray,
    forward: np.ndarray,
    tolerance: float = 1.0,
    relative: float = 0.05,
    region: tuple[slice, slice] | None = None,
) -> np.ndarray:
    """Pixels of frame t that forward-backward consistency says were not visible in frame t-1.

    ``backward`` is t -> t-1, ``forward`` is t-1 -> t, both ``(H, W, 2)``. A visible pixel p satisfies
    ``backward(p) + forward(p + backward(p)) ~ 0``; the test allows ``tolerance`` pixels plus ``relative``
    times the squared motion, as in Sundaram et al. (ECCV 2010). Returns ``(H, W)`` bool, or only its
    ``region`` ``(rows, columns)`` (the same values, computed on that crop alone).
    """
    rows, cols = region if region is not None else (slice(0, backward.shape[0]), slice(0, backward.shape[1]))
    backward = backward[rows, cols]
    map_x, map_y = sampling_maps(backward, (rows.start, cols.start))
    forward_there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mismatch = _squared_length(backward + forward_there)
    motion = _squared_length(backward) + _squared_length(forward_there)
    return mismatch > relative * motion + tolerance**2
