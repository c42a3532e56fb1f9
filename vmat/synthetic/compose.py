"""Exact multi-instance compositing and the edits whose ground truth it gives.

Layers are composited front to back (InstMatt eq. 13-15 unrolled): with ``order`` listing layer
indices nearest first, layer ``k``'s visible contribution is

    c_k = a_k * prod_{j nearer than k} (1 - a_j),    background weight  c_0 = prod_j (1 - a_j),

so ``I = sum_k c_k F_k + c_0 B`` and the contributions sum to 1 (InstMatt eq. 2; the instance-wise
``alpha_2 (1 - alpha_1)`` of mask-guided matting in the wild, eq. 2). ``c_k`` is the instance matte
ground truth; ``a_k`` (the layer's own alpha, ignoring occluders) is kept as the amodal layer.

Edits are compositing with a changed layer list, so their ground truth is exact:

- removal of instance ``k``: composite without layer ``k`` (what the frame looks like without that person);
- occlusion swap of ``p`` and ``q``: exchange their places in the depth order (ORHuman, MP-Mat appendix C).
"""

from __future__ import annotations

import numpy as np


def visible_contributions(layer_alpha: np.ndarray, order: list[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer contributions ``(N, H, W)`` and the background weight ``(H, W)``.

    ``layer_alpha`` is ``(N, H, W)`` float in [0, 1]; ``order`` holds layer indices, nearest first. Layers
    not in ``order`` are left out (their contribution is zero).
    """
    layer_alpha = np.asarray(layer_alpha, np.float32)
    contributions = np.zeros_like(layer_alpha)
    transmitted = np.ones(layer_alpha.shape[1:], np.float32)
    for k in order:
        contributions[k] = layer_alpha[k] * transmitted
        transmitted = transmitted * (1.0 - layer_alpha[k])
    return contributions, transmitted


def composite(
    contributions: np.ndarray, background_weight: np.ndarray, foreground: np.ndarray, background: np.ndarray
) -> np.ndarray:
    """``sum_k c_k F_k + c_0 B`` as float ``(H, W, 3)`` in [0, 1]; ``foreground`` ``(N, H, W, 3)`` and
    ``background`` in [0, 1]."""
    image = background_weight[..., None] * background
    for k in range(len(contributions)):
        image = image + contributions[k][..., None] * foreground[k]
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round a [0, 1] float image to uint8 (the only quantisation in a synthetic frame)."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def unit(image: np.ndarray) -> np.ndarray:
    """uint8 image to float32 in [0, 1]."""
    return np.asarray(image, np.float32) / 255.0


def render_order(layer_alpha: np.ndarray, foreground: np.ndarray, background: np.ndarray, order: list[int]) -> np.ndarray:
    """The uint8 frame of the layers in ``order`` (nearest first) over ``background``; uint8 inputs."""
    contributions, rest = visible_contributions(layer_alpha, order)
    return to_uint8(composite(contributions, rest, unit(foreground), unit(background)))


def removal_order(order: list[int], removed: int) -> list[int]:
    """The depth order with layer ``removed`` left out."""
    return [k for k in order if k != removed]


def swapped_order(order: list[int], p: int, q: int) -> list[int]:
    """The depth order with layers ``p`` and ``q`` exchanging places; everything else keeps its place."""
    swapped = list(order)
    i, j = swapped.index(p), swapped.index(q)
    swapped[i], swapped[j] = q, p
    return swapped
