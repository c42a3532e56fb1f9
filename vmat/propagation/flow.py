"""The maths of flow-based mask propagation: warping, occlusion test, edge-aware snapping.

Flows are ``(H, W, 2)`` float32 arrays of ``(dx, dy)`` in pixels. A *backward* flow of frame t gives, for
every pixel of t, where it was in frame t-1; warping samples frame t-1's data there.
"""

from __future__ import annotations

import cv2
import numpy as np


def sampling_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps ``(H, W)`` float32 x and y that sample at ``pixel + flow``."""
    height, width = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return xs + flow[..., 0], ys + flow[..., 1]


def warp(data: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Sample ``data`` (``(H, W)`` or ``(H, W, C)``, C <= 4) at ``pixel + flow``; outside the frame copies the edge."""
    map_x, map_y = sampling_maps(flow)
    return cv2.remap(data, map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(backward: np.ndarray, forward: np.ndarray, tolerance: float = 1.0, relative: float = 0.05) -> np.ndarray:
    """Pixels of frame t that forward-backward consistency says were not visible in frame t-1.

    ``backward`` is t -> t-1, ``forward`` is t-1 -> t, both ``(H, W, 2)``. A visible pixel p satisfies
    ``backward(p) + forward(p + backward(p)) ~ 0``; the test allows ``tolerance`` pixels plus ``relative``
    times the squared motion, as in Sundaram et al. (ECCV 2010). Returns ``(H, W)`` bool.
    """
    forward_there = warp(forward, backward)
    mismatch = np.square(backward + forward_there).sum(axis=2)
    motion = np.square(backward).sum(axis=2) + np.square(forward_there).sum(axis=2)
    return mismatch > relative * motion + tolerance**2
