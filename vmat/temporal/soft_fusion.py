"""Differentiable forward-backward matte fusion (MaGGIe eq. 12-14) over a whole training clip.

The same recursions as :mod:`vmat.temporal.fusion`, with the change probability ``p(t)`` in place of the
binary map ``delta(t)``, so the loss reaches both the mattes and the sparsity predictor:

    A_f(t) = p(t) A(t) + (1 - p(t)) A_f(t - 1),          A_f(0) = A(0)
    A_b(t) = p(t + 1) A(t) + (1 - p(t + 1)) A_b(t + 1),  A_b(T - 1) = A(T - 1)
    A_temp = w A_f + (1 - w) A,  w = clamp(2 - |A_f - A_b| / tolerance, 0, 1)

``w`` is 1 where the passes agree within ``tolerance`` (eq. 14's "equal") and falls to 0 at twice it, so
with a binary ``p`` and differences outside ``(tolerance, 2 tolerance)`` this is exactly the inference
rule of :class:`~vmat.temporal.fusion.ForwardBackwardFusion` with an unbounded look-ahead.
"""

from __future__ import annotations

import torch
from torch import Tensor

FUSION_MODES = ("none", "forward", "backward", "both")


def soft_forward_pass(alpha: Tensor, change: Tensor) -> Tensor:
    """Eq. 12 over time: ``alpha`` and ``change`` ``(B, T, 1, H, W)`` (``change[:, 0]`` unused) -> ``A_f``."""
    held = [alpha[:, 0]]
    for t in range(1, alpha.shape[1]):
        held.append(change[:, t] * alpha[:, t] + (1 - change[:, t]) * held[-1])
    return torch.stack(held, 1)


def soft_backward_pass(alpha: Tensor, change: Tensor) -> Tensor:
    """Eq. 13 over time: ``alpha`` and ``change`` ``(B, T, 1, H, W)`` -> ``A_b``."""
    last = alpha.shape[1] - 1
    held = [alpha[:, last]]
    for t in range(last - 1, -1, -1):
        held.append(change[:, t + 1] * alpha[:, t] + (1 - change[:, t + 1]) * held[-1])
    return torch.stack(held[::-1], 1)


def soft_fusion(alpha: Tensor, change: Tensor, mode: str = "both", tolerance: float = 0.02) -> Tensor:
    """Fused mattes ``(B, T, 1, H, W)`` from per-frame mattes and change probabilities of the same shape.

    ``mode`` is ``"none"`` (``alpha`` itself), ``"forward"`` (``A_f``), ``"backward"`` (``A_b``) or
    ``"both"`` (eq. 14 in its soft form, which needs a positive ``tolerance``).
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"fusion mode must be one of {FUSION_MODES}, not {mode!r}")
    if mode == "none":
        return alpha
    if mode == "forward":
        return soft_forward_pass(alpha, change)
    if mode == "backward":
        return soft_backward_pass(alpha, change)
    if tolerance <= 0:
        raise ValueError(f"the soft fusion needs a positive tolerance, not {tolerance}")
    forward, backward = soft_forward_pass(alpha, change), soft_backward_pass(alpha, change)
    agreement = (2 - (forward - backward).abs() / tolerance).clamp(0, 1)
    return agreement * forward + (1 - agreement) * alpha
