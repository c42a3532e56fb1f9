"""Edge-aware filters shared by the stages: box means and the guided filter (He, Sun and Tang, 2010).

The guided filter's output is locally an affine function of the guide, so it takes the guide's edges and
fine structure: mask propagation snaps warped labels onto image edges with the grey-guide form, and the
weight-free decomposer turns hard masks into soft mattes with the colour-guide form (in its fast subsampled
variant, He and Sun 2015). Plain functions on float32 arrays; box filters are OpenCV's.
"""

from __future__ import annotations

import cv2
import numpy as np


def box_mean(image: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a ``(2r+1) x (2r+1)`` window, edges reflected; ``(H, W)`` or ``(H, W, C)`` float32."""
    size = 2 * radius + 1
    return cv2.boxFilter(image, ddepth=-1, ksize=(size, size), normalize=True, borderType=cv2.BORDER_REFLECT)


def _coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel affine coefficients ``a (H, W, 3)`` and ``b (H, W)`` with ``source ~ a . guide + b``."""
    mean_i = box_mean(guide, radius)
    mean_p = box_mean(source, radius)
    cov_ip = box_mean(guide * source[..., None], radius) - mean_i * mean_p[..., None]
    # The 3x3 covariance of the guide per pixel, regularised by eps on the diagonal.
    products = {}
    for i in range(3):
        for j in range(i, 3):
            products[i, j] = box_mean(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
    s00, s01, s02 = products[0, 0] + eps, products[0, 1], products[0, 2]
    s11, s12, s22 = products[1, 1] + eps, products[1, 2], products[2, 2] + eps
    # Inverse of the symmetric 3x3 matrix by its adjugate, vectorised over pixels.
    inv00 = s11 * s22 - s12 * s12
    inv01 = s02 * s12 - s01 * s22
    inv02 = s01 * s12 - s02 * s11
    inv11 = s00 * s22 - s02 * s02
    inv12 = s01 * s02 - s00 * s12
    inv22 = s00 * s11 - s01 * s01
    determinant = s00 * inv00 + s01 * inv01 + s02 * inv02
    c0, c1, c2 = cov_ip[..., 0], cov_ip[..., 1], cov_ip[..., 2]
    a = np.stack(
        [
            inv00 * c0 + inv01 * c1 + inv02 * c2,
            inv01 * c0 + inv11 * c1 + inv12 * c2,
            inv02 * c0 + inv12 * c1 + inv22 * c2,
        ],
        axis=-1,
    ) / determinant[..., None]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    return a.astype(np.float32), b.astype(np.float32)


def guided_coefficients(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's smoothed affine coefficients ``a (H, W, 3)``, ``b (H, W)``: the output is
    ``a . guide + b``, and applying coefficients fitted at a small size to a larger guide upsamples along the
    larger guide's edges (He and Sun 2015). ``guide (H, W, 3)``, ``source (H, W)`` float32."""
    a, b = _coefficients(np.ascontiguousarray(guide, np.float32), np.ascontiguousarray(source, np.float32), radius, eps)
    return box_mean(a, radius), box_mean(b, radius)


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float, subsample: int = 1) -> np.ndarray:
    """Filter ``source (H, W)`` guided by ``guide (H, W, 3)``, both float32 in [0, 1]; returns ``(H, W)`` float32.

    ``radius`` is the window radius in full-resolution pixels and ``eps`` the regularisation (larger: smoother,
    less edge-following). ``subsample > 1`` computes the coefficients at 1/subsample resolution and applies
    them at full resolution, which is nearly as good and ``subsample**2`` times cheaper.
    """
    guide = np.ascontiguousarray(guide, dtype=np.float32)
    source = np.ascontiguousarray(source, dtype=np.float32)
    height, width = source.shape
    if subsample > 1:
        small = (max(1, width // subsample), max(1, height // subsample))
        guide_small = cv2.resize(guide, small, interpolation=cv2.INTER_AREA)
        source_small = cv2.resize(source, small, interpolation=cv2.INTER_AREA)
        mean_a, mean_b = guided_coefficients(guide_small, source_small, max(1, round(radius / subsample)), eps)
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    else:
        mean_a, mean_b = guided_coefficients(guide, source, radius, eps)
    return np.einsum("hwc,hwc->hw", mean_a, guide) + mean_b


def grey_guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s grey-guide guided filter (TPAMI 2013): edge-aware smoothing of ``source`` along ``guide``.

    ``guide`` is ``(H, W)`` float32 in [0, 1]; ``source`` is ``(H, W)`` or ``(H, W, C)`` float32. The output
    is locally ``a * guide + b`` per window, so label boundaries move onto the guide's edges.
    """
    mean_i = box_mean(guide, radius)
    var_i = box_mean(guide * guide, radius) - mean_i * mean_i
    if source.ndim == 3:
        guide, mean_i, var_i = guide[..., None], mean_i[..., None], var_i[..., None]
    mean_p = box_mean(source, radius)
    cov_ip = box_mean(guide * source, radius) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box_mean(a, radius) * guide + box_mean(b, radius)


def normalised_convolution(
    weight: np.ndarray, sigma: float, *values: np.ndarray, step: int = 1
) -> tuple[list[np.ndarray], np.ndarray]:
    """Normalised convolution (Knutsson and Westin, 1993): the Gaussian-weighted mean (``sigma`` px) of each
    of ``values`` ``(H, W)`` or ``(H, W, C)`` float32 around each pixel, each pixel counted by its ``weight``
    ``(H, W)`` (a bool mask: the mean of the pixels it selects, which never sees the others).

    ``step > 1`` blurs on a grid ``step`` times coarser (area-averaged, the blur ``sigma / step``) and
    resizes the means back: for a wide Gaussian the result is smooth anyway, at a fraction of the cost.
    The weights' own blur is shared by all ``values``.

    Returns:
        The means (0 where no weight is within reach), and the blurred weight ``(H, W)`` (on the coarse grid
        when ``step > 1``): how much weight each mean rests on.
    """
    height, width = weight.shape
    small = (max(1, width // step), max(1, height // step))

    def blur(image: np.ndarray) -> np.ndarray:
        if step > 1:
            image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(image, (0, 0), sigma / step)

    weight = weight.astype(np.float32)
    spread = blur(weight)
    norm = np.maximum(spread, 1e-6)
    means = []
    for value in values:
        total = blur(value * (weight[..., None] if value.ndim == 3 else weight))
        mean = total / norm[..., None] if value.ndim == 3 else total / norm
        means.append(mean if step == 1 else cv2.resize(mean, (width, height), interpolation=cv2.INTER_LINEAR))
    return means, spread
