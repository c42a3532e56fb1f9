"""Alpha in a trimap's unknown band by closed-form matting, optionally pulled towards a prior alpha and
towards the colour term's targets: coarse to fine, a few conjugate-gradient steps per level, and guided
upsampling to bring an alpha solved at a smaller size back up."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import scipy.sparse

from vmat.filters import guided_coefficients
from vmat.linalg import conjugate_gradients
from vmat.matting.colour_term import ColourTermConfig, colour_alpha
from vmat.matting.laplacian import band_system
from vmat.matting.trimap import UNKNOWN


@dataclass(frozen=True)
class SolverConfig:
    eps: float = 1e-7  # the closed-form windows' regulariser (Levin et al.'s value)
    iterations: int = 40  # conjugate-gradient steps at most, per level
    tolerance: float = 1e-4  # stop once the residual is this fraction of the rhs
    upsample_radius: int = 1  # coarser levels' guided upsampling: window radius in coarse pixels
    upsample_eps: float = 1e-4
    levels: int = 3  # solve at 1/2, 1/4, ... of the working size first, each start of the next (1: no coarser level)
    # With a prior alpha (e.g. the guided filter's): its weight lambda in the regularised closed form
    # (L_UU + lambda Id) alpha_U = -L_UK alpha_K + lambda prior_U, which keeps alpha near a temporally smoother
    # answer where the colours leave it undecided (0: the prior only starts the solve).
    prior_weight: float = 0.0
    # The colour data term (:mod:`vmat.matting.colour_term`): its weight, times each pixel's confidence, pulls
    # alpha towards what the nearby known colours say (0: pure closed form).
    colour_weight: float = 0.0
    colour: ColourTermConfig = field(default_factory=ColourTermConfig)


MIN_LEVEL_SIDE = 16  # no coarser level below this many pixels on the shorter side


def solve_band(
    image: np.ndarray,
    trimap: np.ndarray,
    config: SolverConfig = SolverConfig(),
    prior: np.ndarray | None = None,
    band: float = 3.0,
) -> np.ndarray:
    """Alpha ``(H, W)`` float32 in [0, 1] for ``image (H, W, 3)`` float32 in [0, 1] and ``trimap (H, W)`` (0, 0.5, 1).

    Known pixels keep the trimap's value. Without ``prior`` the unknown band starts at 0.5 on the coarsest
    level; each conjugate-gradient step spreads the known values about two pixels further in. ``prior (H, W)``
    float32: an alpha that starts the solve in the band instead, and that alpha is pulled towards by
    ``config.prior_weight``. ``band``: the band's half-width in pixels, which the colour term's reach follows.
    """
    unknown = trimap == UNKNOWN
    if not unknown.any():
        return trimap.astype(np.float32)
    start = trimap.astype(np.float32) if prior is None else np.where(unknown, prior, trimap).astype(np.float32)
    return _solve_levels(image, trimap, start, config, config.levels, prior is not None, band)


def guided_upsample(
    small_image: np.ndarray, small_alpha: np.ndarray, image: np.ndarray, radius: int = 1, eps: float = 1e-4
) -> np.ndarray:
    """``small_alpha (h, w)`` brought to ``image``'s size ``(H, W, 3)`` along ``image``'s edges: the guided
    filter's affine coefficients (alpha ~ a . colour + b) fitted to ``small_image (h, w, 3)`` and applied to
    ``image`` (He and Sun 2015). Returns ``(H, W)`` float32, not clipped."""
    height, width = image.shape[:2]
    a, b = guided_coefficients(small_image, small_alpha, radius, eps)
    a = cv2.resize(a, (width, height), interpolation=cv2.INTER_LINEAR)
    b = cv2.resize(b, (width, height), interpolation=cv2.INTER_LINEAR)
    return (np.einsum("hwc,hwc->hw", a, image) + b).astype(np.float32)


def _solve_smaller(
    image: np.ndarray,
    trimap: np.ndarray,
    start: np.ndarray,
    config: SolverConfig,
    size: tuple[int, int],
    levels: int,
    has_prior: bool,
    band: float,
) -> np.ndarray:
    """The band's alpha solved at the smaller ``size`` (width, height) and brought back to ``trimap``'s size."""
    unknown = trimap == UNKNOWN
    # At the working size a pixel is unknown when any full-size pixel it covers is.
    small_image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_unknown = cv2.resize(unknown.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    small_known = cv2.resize(trimap.astype(np.float32), size, interpolation=cv2.INTER_AREA).round()
    small_trimap = np.where(small_unknown, UNKNOWN, small_known).astype(np.float32)
    small_start = cv2.resize(start, size, interpolation=cv2.INTER_AREA)
    scale = size[0] / trimap.shape[1]
    small_alpha = _solve_levels(small_image, small_trimap, small_start, config, levels, has_prior, band * scale)
    guided = guided_upsample(small_image, small_alpha, image, config.upsample_radius, config.upsample_eps)
    return np.where(unknown, np.clip(guided, 0.0, 1.0), trimap).astype(np.float32)


def _solve_levels(
    image: np.ndarray,
    trimap: np.ndarray,
    start: np.ndarray,
    config: SolverConfig,
    levels: int,
    has_prior: bool,
    band: float,
) -> np.ndarray:
    """Coarse to fine: the band solved at half the size first starts the solve at this size, so that the
    few conjugate-gradient steps here need only carry detail, not values across the band. With a prior,
    ``start`` is the prior in the band on every level."""
    height, width = trimap.shape
    prior = start if has_prior else None
    if levels > 1 and min(height, width) >= 2 * MIN_LEVEL_SIDE:
        half = ((width + 1) // 2, (height + 1) // 2)
        coarse = _solve_smaller(image, trimap, start, config, half, levels - 1, has_prior, band)
        start = np.where(trimap == UNKNOWN, coarse, start)
    return _solve(image, trimap, start, config, prior, band)


def _solve(
    image: np.ndarray, trimap: np.ndarray, start: np.ndarray, config: SolverConfig, prior: np.ndarray | None, band: float
) -> np.ndarray:
    """One level: ``(L_UU + diag(w)) alpha_U = -L_UK alpha_K + w target_U``, where ``w target`` sums the prior's
    constant pull and the colour term's confidence-weighted one."""
    unknown = trimap == UNKNOWN
    system = band_system(image, trimap, unknown, config.eps)
    alpha = start.astype(np.float64)
    if system.rhs.size:
        weight = np.zeros(system.rhs.size)
        pull = np.zeros(system.rhs.size)
        if prior is not None and config.prior_weight > 0:
            weight += config.prior_weight
            pull += config.prior_weight * prior[unknown]
        if config.colour_weight > 0:
            target, confidence = colour_alpha(image, trimap, band, config.colour)
            weight += config.colour_weight * confidence[unknown]
            pull += config.colour_weight * (confidence * target)[unknown]
        matrix = system.matrix + scipy.sparse.diags(weight, format="csr") if weight.any() else system.matrix
        solved, _ = conjugate_gradients(
            matrix, system.rhs + pull, alpha[unknown], iterations=config.iterations, tolerance=config.tolerance, jacobi=True
        )
        alpha[unknown] = solved
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)
