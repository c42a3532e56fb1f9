"""Depth-Anything-V2-Small (DINOv2 ViT-S/14 encoder + DPT head) and its checkpoint loader.

:class:`DepthAnythingV2` is the bare network: ImageNet-normalised ``(B, 3, H, W)`` with ``H`` and ``W``
multiples of 14 in, relative *disparity* ``(B, H, W)`` out (larger = nearer, affine-invariant, not
metric). :class:`DepthAnythingV2Estimator` wraps it as a vmat depth stage (resizing, normalisation, the
conversion to vmat's depth convention; see :mod:`vmat.depth.base`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vmat.depth.base import disparity_to_depth, resolve_device
from vmat.depth.checkpoint import load_state_dict_file, match_state_dict
from vmat.depth.dinov2 import DinoVisionTransformer, ViTConfig
from vmat.depth.dpt import DPTConfig, DPTHead

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class DepthAnythingV2(nn.Module):
    """The Depth-Anything-V2 network; key names match the published ``depth_anything_v2_vits.pth``."""

    def __init__(self, encoder: ViTConfig | None = None, head: DPTConfig | None = None) -> None:
        super().__init__()
        self.pretrained = DinoVisionTransformer(encoder)
        self.depth_head = DPTHead(head)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 3, H, W)`` ImageNet-normalised, ``H, W`` multiples of 14 -> disparity ``(B, H, W)`` >= 0."""
        patch = self.pretrained.config.patch_size
        grid_h, grid_w = x.shape[-2] // patch, x.shape[-1] // patch
        disparity = self.depth_head(self.pretrained(x), grid_h, grid_w)
        return F.relu(disparity).squeeze(1)


def load_depth_anything_v2(path: str | Path, device: str | torch.device | None = None) -> DepthAnythingV2:
    """Build Depth-Anything-V2-Small and load the published checkpoint from ``path`` strictly.

    ``path`` is the published ``.pth`` (read with ``torch.load(weights_only=True)``) or a
    ``.safetensors`` file with the same keys. Raises :class:`vmat.depth.CheckpointError` when the file
    is missing, is not a checkpoint, or its keys or shapes differ from the model's. Returns the model in
    eval mode on ``device`` (default: CUDA when available, else CPU).
    """
    model = DepthAnythingV2()
    state = match_state_dict(load_state_dict_file(path), model.state_dict(), Path(path).name)
    model.load_state_dict(state, strict=True)
    return model.eval().to(resolve_device(device))


@dataclass
class DepthAnythingV2Config:
    """How frames are fed to Depth-Anything-V2."""

    # Short side of the network input in pixels; rounded to a multiple of 14. 518 is the training size.
    input_size: int = 518


class DepthAnythingV2Estimator:
    """vmat depth stage backed by Depth-Anything-V2 (needs weights; see :func:`load_depth_anything_v2`).

    Each frame is resized (aspect kept, short side ``input_size``, both sides multiples of 14; bicubic
    with antialiasing, where the reference code uses OpenCV's cubic resize without it),
    ImageNet-normalised, run through the network, resized back, and turned into vmat depth with
    :func:`vmat.depth.base.disparity_to_depth` (0 = nearest, 1 = farthest in each frame).
    Instance masks are accepted for interface compatibility and ignored.
    """

    name = "dav2-small"

    def __init__(self, model: DepthAnythingV2, config: DepthAnythingV2Config | None = None) -> None:
        self.model = model.eval()
        self.config = config or DepthAnythingV2Config()
        self.device = next(model.parameters()).device
        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def to(self, device: str | torch.device) -> DepthAnythingV2Estimator:
        """Move the network to ``device``; returns ``self``."""
        self.device = torch.device(device)
        self.model.to(self.device)
        self._mean, self._std = self._mean.to(self.device), self._std.to(self.device)
        return self

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """Network input size for a ``height x width`` frame: short side ~``input_size``, multiples of 14."""
        scale = self.config.input_size / min(height, width)
        patch = self.model.pretrained.config.patch_size
        return (max(patch, round(height * scale / patch) * patch), max(patch, round(width * scale / patch) * patch))

    @torch.inference_mode()
    def __call__(self, frames: Tensor, masks: Tensor | None = None) -> Tensor:
        """``(B, 3, H, W)`` float RGB in [0, 1] -> depth ``(B, 1, H, W)`` in [0, 1], smaller = nearer.

        Runs on :attr:`device`; the result is returned on the device of ``frames``.
        """
        height, width = frames.shape[-2:]
        x = frames.to(self.device, torch.float32)
        x = F.interpolate(x, size=self.network_size(height, width), mode="bicubic", align_corners=False, antialias=True)
        disparity = self.model((x.clamp(0, 1) - self._mean) / self._std).unsqueeze(1)
        disparity = F.interpolate(disparity, size=(height, width), mode="bilinear", align_corners=True)
        return disparity_to_depth(disparity).to(frames.device)
