"""The depth-stage interface and vmat's depth convention.

**Convention.** Everywhere in vmat, "depth" is *relative depth*: a ``(B, 1, H, W)`` float tensor in
[0, 1] where **smaller = nearer** (0 is the nearest thing in the frame, 1 the farthest or the sky). It
orders surfaces; it is not metric and not linear in distance. Monocular networks predict affine-invariant
*disparity* (larger = nearer); :func:`disparity_to_depth` maps it onto this convention. MP-Mat takes it as
its depth input channel and sorts instance planes by mean depth in ascending order (nearest first).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

# Below this disparity range a frame is treated as flat (no ordering information).
_FLAT_RANGE = 1e-6


@runtime_checkable
class DepthEstimator(Protocol):
    """A per-frame depth stage.

    ``__call__(frames, masks=None)`` maps ``frames`` ``(B, 3, H, W)`` float RGB in [0, 1] (any device) to
    depth ``(B, 1, H, W)`` in [0, 1], smaller = nearer, on the device of ``frames``. ``masks`` are optional
    instance id masks ``(B, H, W)`` (int, 0 = background, k > 0 = person k); estimators that cannot use
    them ignore them. Work runs on :attr:`device`; ``to(device)`` moves it and returns the estimator.
    """

    name: str
    device: torch.device

    def __call__(self, frames: Tensor, masks: Tensor | None = None) -> Tensor: ...

    def to(self, device: str | torch.device) -> DepthEstimator: ...


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU; anything else -> ``torch.device(device)``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def disparity_to_depth(disparity: Tensor) -> Tensor:
    """Per-frame min-max normalised disparity ``(B, 1, H, W)`` turned into vmat depth ``1 - d``.

    The nearest pixel of each frame gets 0 and the farthest 1; a flat frame (no disparity range) is all 1.
    """
    flat = disparity.flatten(1)
    low = flat.amin(dim=1).view(-1, 1, 1, 1)
    span = (flat.amax(dim=1).view(-1, 1, 1, 1) - low).clamp_min(_FLAT_RANGE)
    return 1.0 - (disparity - low) / span


def images_to_tensor(images: list[np.ndarray] | np.ndarray) -> Tensor:
    """uint8 RGB images ``(H, W, 3)`` (a list, or an ``(B, H, W, 3)`` array) -> ``(B, 3, H, W)`` float in [0, 1]."""
    batch = np.stack(images) if isinstance(images, list) else images
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected (B, H, W, 3) RGB images, got shape {batch.shape}")
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float().div_(255.0)
