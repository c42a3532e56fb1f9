"""Temporal stabilisation of per-frame relative depth by scale/shift alignment to a running reference.

Monocular depth is only defined up to an affine map per frame, and per-frame min-max normalisation makes
that map jump whenever the nearest or farthest pixel changes, so raw per-frame depth flickers. Each frame
``d`` is replaced by ``s * d + b``, where ``(s, b)`` minimise the weighted squared difference to a
reference map ``r`` that summarises the clip so far:

    min_{s, b}  sum_i w_i (s d_i + b - r_i)^2,
    s = cov_w(d, r) / var_w(d),   b = mean_w(r) - s mean_w(d).

The fit runs on a small area-averaged grid (area averaging is linear, so an exact affine relation at
full size stays exact on the grid). Pixels of instances (people move, so their depth legitimately changes)
are left out when masks are given, and after a first fit a few trimmed refits keep only the
``keep_fraction`` of grid cells with the smallest residuals, which makes it robust to other moving
things. The reference starts as the first frame's static cells, takes each newly uncovered static cell as it first appears,
and follows the aligned frames on known static cells with an exponential moving average, so slow camera
motion is tolerated; the state is one small two-channel grid, whatever the clip length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vmat.geometry import processing_size

# Below this weighted variance a frame is flat: the scale is unidentifiable and kept at 1.
_FLAT_VARIANCE = 1e-10


@dataclass
class StabilizerConfig:
    """Settings of :class:`DepthStabilizer`."""

    # Long side of the grid the fit runs on; the reference is stored at this size.
    fit_size: int = 128
    # Fraction of grid cells, smallest residual first, kept by each robust refit.
    keep_fraction: float = 0.8
    # Trimmed refits after the first plain fit; each one re-ranks the residuals of the better fit.
    refits: int = 3
    # How far the reference moves towards each aligned frame (0: the first frame stays the reference).
    momentum: float = 0.1


def fit_scale_shift(depth: Tensor, reference: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted least-squares ``(s, b)`` with ``s * depth + b ~ reference``; all inputs the same shape.

    Returns 0-dim tensors. A flat ``depth`` (no weighted variance) gets ``s = 1`` and only a shift.
    """
    total = weight.sum().clamp_min(torch.finfo(weight.dtype).tiny)
    mean_d = (weight * depth).sum() / total
    mean_r = (weight * reference).sum() / total
    var_d = (weight * (depth - mean_d) ** 2).sum() / total
    cov = (weight * (depth - mean_d) * (reference - mean_r)).sum() / total
    scale = torch.where(var_d > _FLAT_VARIANCE, cov / var_d.clamp_min(_FLAT_VARIANCE), torch.ones_like(var_d))
    return scale, mean_r - scale * mean_d


class DepthStabilizer:
    """Streams a clip's depth frames through scale/shift alignment; the reference is passed explicitly.

    ``aligned, state = stabilizer(depth, state, masks)``: call with ``state=None`` on a clip's first
    batch and feed the returned state back with the next batch (frames in clip order).
    """

    def __init__(self, config: StabilizerConfig | None = None) -> None:
        self.config = config or StabilizerConfig()
        if not 0.0 < self.config.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.config.keep_fraction}")
        if not 0.0 <= self.config.momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {self.config.momentum}")

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """Size of the fitting grid for ``height x width`` frames (never larger than the frame)."""
        width, height = processing_size(width, height, self.config.fit_size)
        return height, width

    def __call__(self, depth: Tensor, state: Tensor | None, masks: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Align ``(B, 1, H, W)`` depth frames in order; ``masks`` ``(B, H, W)`` ids (> 0 = moving instance).

        Returns the aligned depth ``(B, 1, H, W)`` clamped to [0, 1] and the new state ``(1, 2, h, w)``:
        the reference grid and, per cell, whether the reference there was seen as static background.
        """
        grid = self.grid_size(*depth.shape[-2:])
        small = F.adaptive_avg_pool2d(depth.float(), grid)
        if masks is None:
            static = torch.ones_like(small)
        else:
            # Only cells made entirely of background pixels count as static.
            background = (masks.to(depth.device) == 0).unsqueeze(1).to(small.dtype)
            static = (F.adaptive_avg_pool2d(background, grid) > 1.0 - 1e-6).to(small.dtype)
        if state is None:
            state = torch.zeros(1, 2, *grid, dtype=small.dtype, device=small.device)

        aligned = torch.empty_like(depth, dtype=small.dtype)
        for i in range(depth.shape[0]):
            reference, valid = state[:, :1], state[:, 1:]
            frame_small, frame_static = small[i : i + 1], static[i : i + 1]
            weight = frame_static * valid
            if weight.sum() > 0:
                scale, shift = self._robust_fit(frame_small, reference, weight)
            else:  # nothing to align to yet (first frame, or no shared static cell): keep the frame as it is
                scale, shift = torch.ones((), device=small.device), torch.zeros((), device=small.device)
            torch.mul(depth[i], scale, out=aligned[i]).add_(shift).clamp_(0.0, 1.0)
            frame_small = scale * frame_small + shift
            # Cells seen for the first time take the frame's value; known cells follow it slowly.
            updated = torch.where(valid > 0, torch.lerp(reference, frame_small, self.config.momentum), frame_small)
            reference = torch.where(frame_static > 0, updated, reference)
            state = torch.cat([reference, torch.maximum(valid, frame_static)], dim=1)
        return aligned, state

    def _robust_fit(self, small: Tensor, reference: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        scale, shift = fit_scale_shift(small, reference, weight)
        if self.config.keep_fraction < 1.0:
            for _ in range(self.config.refits):
                residual = (scale * small + shift - reference).abs()
                cutoff = torch.quantile(residual[weight > 0], self.config.keep_fraction)
                scale, shift = fit_scale_shift(small, reference, weight * (residual <= cutoff))
        return scale, shift
