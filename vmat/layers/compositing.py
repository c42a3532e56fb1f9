"""Compositing maths for instance-level multiplane layers (MP-Mat Inst-MP).

Every plane ``i`` has a straight (not premultiplied) colour ``c_i`` and its own coverage ``a_i``: how much
of the pixel that plane would cover if nothing were in front of it. Planes are composited front to back
with the "over" operator, which gives each plane its *effective weight*

    w_i = a_i * prod_{k in front of i} (1 - a_k),

the paper's ``alpha_i`` in the integration property ``I = sum_i c_i alpha_i``. The background is the last
plane and is opaque, so the weights of a pixel always sum to one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from vmat.layers.errors import LayerError


def effective_weights(alpha: torch.Tensor, order: Sequence[int]) -> torch.Tensor:
    """Effective (visible) weight of every plane.

    Args:
        alpha: ``(P, H, W)`` own coverage of each plane, in [0, 1].
        order: plane indices from the front-most to the back-most (the background, opaque, last).

    Returns:
        ``(P, H, W)`` weights ``w_i = a_i * prod_{k in front of i} (1 - a_k)``.
    """
    weights = torch.zeros_like(alpha)
    transmittance = torch.ones_like(alpha[0])
    for plane in order:
        weights[plane] = alpha[plane] * transmittance
        transmittance = transmittance * (1.0 - alpha[plane])
    return weights


def own_alpha_from_weights(weights: torch.Tensor, order: Sequence[int], hidden_below: float) -> torch.Tensor:
    """Invert :func:`effective_weights`: recover each plane's own coverage from its visible weight.

    A plane's coverage is only observable where enough light reaches it; where the transmittance left by
    the planes in front is ``hidden_below`` or less, its coverage is unknown and set to 0 (a matting model's
    tiny noisy weights there would otherwise become fully opaque hidden content).

    Args:
        weights: ``(P, H, W)`` effective weights, the paper's ``alpha_i``.
        order: plane indices front to back, background last.
        hidden_below: transmittance at or below which a plane counts as hidden.

    Returns:
        ``(P, H, W)`` own coverage in [0, 1]; the background (last in ``order``) is all ones.
    """
    alpha = torch.zeros_like(weights)
    transmittance = torch.ones_like(weights[0])
    for plane in order[:-1]:
        seen = transmittance > hidden_below
        ratio = weights[plane] / transmittance.clamp_min(hidden_below)
        alpha[plane] = torch.where(seen, ratio.clamp(0.0, 1.0), torch.zeros_like(ratio))
        transmittance = transmittance * (1.0 - alpha[plane])
    alpha[order[-1]] = 1.0
    return alpha


def composite(colour: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The integration property ``I = sum_i c_i w_i``.

    Args:
        colour: ``(P, 3, H, W)`` straight colour.
        weights: ``(P, H, W)`` effective weights.

    Returns:
        ``(3, H, W)`` image.
    """
    return torch.einsum("pchw,phw->chw", colour, weights)


def check_integration(weights: torch.Tensor, tolerance: float = 1e-3) -> None:
    """Raise :class:`LayerError` unless the weights of every pixel sum to one (within ``tolerance``).

    Args:
        weights: ``(P, H, W)`` effective weights.
    """
    if not bool(torch.isfinite(weights).all()):
        raise LayerError("The layer weights contain NaN or infinite values.")
    if weights.numel() and float(weights.min()) < -tolerance:
        raise LayerError(f"A layer weight is negative ({float(weights.min()):.4g}); weights must lie in [0, 1].")
    error = (weights.sum(0) - 1.0).abs()
    if error.numel() and float(error.max()) > tolerance:
        y, x = divmod(int(error.argmax()), weights.shape[-1])
        total = float(weights[:, y, x].sum())
        raise LayerError(
            f"The layer weights at pixel (x={x}, y={y}) sum to {total:.4f}, not 1 (integration property)."
        )


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB to ``(3, H, W)`` float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image[..., :3])).permute(2, 0, 1).float().div_(255.0)


def tensor_to_image(rgb: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] to ``(H, W, 3)`` uint8 RGB, rounded to nearest."""
    # In place after the clamp's copy: three fewer full-size temporaries, a third of the time at 720p.
    scaled = rgb.detach().cpu().clamp(0.0, 1.0).mul_(255.0).round_()
    return scaled.to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
