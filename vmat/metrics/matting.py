"""The four standard alpha-matte errors: SAD, MSE (and MAD), gradient and connectivity.

Alphas are float arrays in [0, 1] of shape ``(H, W)``. Each error has a per-pixel map (``*_map``) so that
callers can restrict it to a region (SAD-O / SAD-NO, the IMQ union region) without recomputing, and a
scalar in the units the papers print:

==========  ======================================  ========================
metric      definition                              reported as
==========  ======================================  ========================
SAD         sum |a - g|                             / 1000  (thousands)
MSE         mean (a - g)^2                          x 1000  (x 1e-3)
MAD         mean |a - g|                            x 1000  (x 1e-3)
Grad        sum (|grad a| - |grad g|)^2             / 1000
Conn        sum |phi(a) - phi(g)|                   / 1000
==========  ======================================  ========================

Grad and Conn follow Rhemann et al. (CVPR 2009) as used by Deep Image Matting and every paper in
``shared/seeds``: gradients are first derivatives of a Gaussian (sigma 1.4) whose filters are scaled to
unit L2 norm; connectivity thresholds the mattes at steps of 0.1, keeps the largest 4-connected
component of the pixels both mattes hold above the threshold, and ignores degrees of disconnection
below 0.15.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SAD_SCALE = 1e-3
MSE_SCALE = 1e3
MAD_SCALE = 1e3
GRAD_SCALE = 1e-3
CONN_SCALE = 1e-3


def _as_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 2:
        raise ValueError(f"expected two (H, W) alphas of one shape, got {pred.shape} and {gt.shape}")
    return pred, gt


def absolute_error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``|pred - gt|`` per pixel, ``(H, W)`` float64."""
    pred, gt = _as_pair(pred, gt)
    return np.abs(pred - gt)


def squared_error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(pred - gt)^2`` per pixel, ``(H, W)`` float64."""
    pred, gt = _as_pair(pred, gt)
    return (pred - gt) ** 2


@lru_cache(maxsize=8)
def gaussian_derivative_filters(sigma: float = 1.4, epsilon: float = 1e-2) -> tuple[np.ndarray, np.ndarray]:
    """The x and y derivative-of-Gaussian filters of the gradient error, each with unit L2 norm.

    The half size is where the Gaussian falls to ``epsilon`` of its peak density, as in the reference
    definition; the y filter is the transpose of the x filter.
    """
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * epsilon)))
    u = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(u**2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    dgauss = -u * gauss / sigma**2
    filter_x = np.outer(gauss, dgauss)  # rows: y, columns: x -> derivative along x
    filter_x /= np.sqrt(np.sum(filter_x**2))
    return filter_x, filter_x.T.copy()


def gradient_magnitude(alpha: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """Magnitude of the derivative-of-Gaussian gradient of an ``(H, W)`` alpha (border pixels repeated)."""
    filter_x, filter_y = gaussian_derivative_filters(sigma)
    alpha = np.asarray(alpha, dtype=np.float64)
    gx = cv2.filter2D(alpha, cv2.CV_64F, filter_x, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(alpha, cv2.CV_64F, filter_y, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def gradient_error_map(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    """``(|grad pred| - |grad gt|)^2`` per pixel, ``(H, W)`` float64."""
    pred, gt = _as_pair(pred, gt)
    return (gradient_magnitude(pred, sigma) - gradient_magnitude(gt, sigma)) ** 2


def _largest_component(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    # Label 0 is the unselected pixels; ties go to the lowest label, i.e. the first in raster order.
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == largest


def connectivity_error_map(pred: np.ndarray, gt: np.ndarray, step: float = 0.1, theta: float = 0.15) -> np.ndarray:
    """``|phi(pred) - phi(gt)|`` per pixel, ``(H, W)`` float64.

    ``l`` is, per pixel, the highest threshold at which it still belongs to the largest 4-connected
    component of ``(pred >= t) & (gt >= t)`` (1 when it never leaves it); ``phi(a) = 1 - d`` where
    ``d = a - l`` counts only when ``d >= theta``.
    """
    pred, gt = _as_pair(pred, gt)
    thresholds = np.round(np.arange(0.0, 1.0 + step / 2, step), 10)
    level = np.full(pred.shape, -1.0)
    for previous, threshold in zip(thresholds[:-1], thresholds[1:]):
        inside = _largest_component((pred >= threshold) & (gt >= threshold))
        level[(level == -1.0) & ~inside] = previous
    level[level == -1.0] = 1.0
    pred_d = pred - level
    gt_d = gt - level
    pred_phi = 1.0 - pred_d * (pred_d >= theta)
    gt_phi = 1.0 - gt_d * (gt_d >= theta)
    return np.abs(pred_phi - gt_phi)


def sad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Sum of absolute differences, in thousands."""
    return float(absolute_error_map(pred, gt).sum() * SAD_SCALE)


def mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared error, x 1e3."""
    return float(squared_error_map(pred, gt).mean() * MSE_SCALE)


def mad(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute difference, x 1e3."""
    return float(absolute_error_map(pred, gt).mean() * MAD_SCALE)


def gradient_error(pred: np.ndarray, gt: np.ndarray, sigma: float = 1.4) -> float:
    """Gradient error, / 1000."""
    return float(gradient_error_map(pred, gt, sigma).sum() * GRAD_SCALE)


def connectivity_error(pred: np.ndarray, gt: np.ndarray, step: float = 0.1, theta: float = 0.15) -> float:
    """Connectivity error, / 1000."""
    return float(connectivity_error_map(pred, gt, step, theta).sum() * CONN_SCALE)


@dataclass(frozen=True)
class ErrorMaps:
    """The four per-pixel error maps of one predicted/ground-truth alpha pair, each ``(H, W)`` float64."""

    absolute: np.ndarray
    squared: np.ndarray
    gradient: np.ndarray
    connectivity: np.ndarray

    @classmethod
    def of(cls, pred: np.ndarray, gt: np.ndarray) -> ErrorMaps:
        return cls(
            absolute_error_map(pred, gt),
            squared_error_map(pred, gt),
            gradient_error_map(pred, gt),
            connectivity_error_map(pred, gt),
        )
