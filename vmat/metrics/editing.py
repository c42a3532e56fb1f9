"""Scores of an edited frame against the exact edited frame (MP-Mat tables 5-6).

Images are ``(H, W, 3)`` uint8 (or floats already in [0, 1]); errors are on the [0, 1] scale and
reported the way MP-Mat prints them: mean L1 and mean L2 in percent, PSNR in dB with peak 1.
"""

from __future__ import annotations

import math

import numpy as np


def _unit(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    return image.astype(np.float64)


def mean_l1(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute difference over pixels and channels, in percent of full scale."""
    return float(np.mean(np.abs(_unit(pred) - _unit(gt))) * 100.0)


def mean_l2(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared difference over pixels and channels, in percent of full scale squared."""
    return float(np.mean((_unit(pred) - _unit(gt)) ** 2) * 100.0)


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with peak 1; ``inf`` for identical images."""
    error = float(np.mean((_unit(pred) - _unit(gt)) ** 2))
    return math.inf if error == 0 else -10.0 * math.log10(error)
