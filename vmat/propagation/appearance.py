"""Small colour appearance models: one normalised RGB histogram per instance (and one for the background).

They decide the pixels the motion cannot (boundary bands, occlusions) and re-identify a person who was
hidden and comes back. Each is ``bins ** 3`` floats, so state stays small however long the clip is.
"""

from __future__ import annotations

import numpy as np


def colour_codes(image: np.ndarray, bins: int) -> np.ndarray:
    """Histogram bin of every pixel of an ``(H, W, 3)`` uint8 image: ``(H, W)`` int64 in ``[0, bins**3)``."""
    quantised = (image.astype(np.int64) * bins) >> 8
    return (quantised[..., 0] * bins + quantised[..., 1]) * bins + quantised[..., 2]


def colour_histogram(codes: np.ndarray, bins: int, prior: float = 1.0) -> np.ndarray:
    """Normalised histogram ``(bins**3,)`` of the given bin codes, with ``prior`` pseudo-counts per bin.

    The pseudo-count keeps unseen colours possible rather than impossible.
    """
    counts = np.bincount(codes.reshape(-1), minlength=bins**3).astype(np.float64) + prior
    return (counts / counts.sum()).astype(np.float32)


def bhattacharyya_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Hellinger-form Bhattacharyya distance ``sqrt(1 - sum(sqrt(p q)))`` of two normalised histograms, in [0, 1]."""
    coefficient = float(np.sqrt(p.astype(np.float64) * q.astype(np.float64)).sum())
    return float(np.sqrt(max(0.0, 1.0 - coefficient)))
