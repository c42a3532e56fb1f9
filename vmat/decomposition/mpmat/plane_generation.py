"""Plane Generation Network (section 3.1.1): N plane-distinctive masks from the RGB-D frame."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.layers import conv_block, mlp

# Below this depth range a frame counts as flat; the planes then all start at the same depth.
_FLAT_RANGE = 1e-3


def initial_plane_depths(depth: Tensor, planes: int) -> Tensor:
    """The initial depths ``d'_i``: ``planes`` bin centres spread uniformly over each frame's depth range.

    ``depth (B, 1, H, W)`` -> ``(B, planes)``, ``d'_i = lo + (i + 1/2) / N * (hi - lo)`` for ``i = 0 .. N-1``.
    """
    flat = depth.flatten(1)
    low, high = flat.amin(1, keepdim=True), flat.amax(1, keepdim=True)
    centres = (torch.arange(planes, device=depth.device, dtype=depth.dtype) + 0.5) / planes
    return low + centres[None] * (high - low)


def plane_inputs(image: Tensor, depth: Tensor, plane_depths: Tensor) -> Tensor:
    """The per-plane input ``(I, D, D - d_i)`` folded into the batch: ``(B * N, 5, H, W)``.

    ``image (B, 3, H, W)``, ``depth (B, 1, H, W)``, ``plane_depths (B, N)``. The signed distance to the plane
    is what makes one shared network produce a different mask for every plane.
    """
    batch, planes = plane_depths.shape
    offset = depth[:, None] - plane_depths[:, :, None, None, None]  # (B, N, 1, H, W)
    shared = torch.cat([image * 2.0 - 1.0, depth * 2.0 - 1.0], 1)[:, None].expand(-1, planes, -1, -1, -1)
    return torch.cat([shared, offset], 2).flatten(0, 1)


class PlaneFeatureExtractor(nn.Module):
    """``E_d`` (eq. 2): a shared light CNN giving one global feature per plane, ``(B*N, 5, h, w) -> (B*N, P)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(5, channels // 2, stride=2), conv_block(channels // 2, channels, stride=2))
        self.project = nn.Linear(channels, channels)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.project(self.body(inputs).mean((2, 3)))


class Interpreter(nn.Module):
    """``H`` (eq. 5): a three-level UNet giving one mask logit per plane, ``(B*N, 5, h, w) -> (B*N, 1, h, w)``.

    ``h`` and ``w`` must be multiples of 4.
    """

    def __init__(self, channels: tuple[int, int, int]) -> None:
        super().__init__()
        top, middle, bottom = channels
        self.down0 = conv_block(5, top)
        self.down1 = conv_block(top, middle, stride=2)
        self.down2 = nn.Sequential(conv_block(middle, bottom, stride=2), conv_block(bottom, bottom))
        self.up1 = conv_block(bottom + middle, middle)
        self.up0 = conv_block(middle + top, top)
        self.logit = nn.Conv2d(top, 1, 1)

    def forward(self, inputs: Tensor) -> Tensor:
        skip0 = self.down0(inputs)
        skip1 = self.down1(skip0)
        x = self.down2(skip1)
        x = self.up1(torch.cat([nn.functional.interpolate(x, size=skip1.shape[2:], mode="nearest"), skip1], 1))
        x = self.up0(torch.cat([nn.functional.interpolate(x, size=skip0.shape[2:], mode="nearest"), skip0], 1))
        return self.logit(x)


@dataclass
class PlaneGenerationOutput:
    masks: Tensor  # (B, N, h, w) plane-distinctive masks, softmax over planes
    initial_depths: Tensor  # (B, N) d'_i
    depths: Tensor  # (B, N) adjusted d_i


class PlaneGenerationNetwork(nn.Module):
    """PGN: ``forward(image (B, 3, h, w), depth (B, 1, h, w)) -> PlaneGenerationOutput``.

    Runs at the scene features' resolution (the caller passes the frame downsampled to 1/4; ``h``, ``w``
    multiples of 4). Eqs. 2-5: per-plane features at the initial depths, self-attention across planes, a
    shared MLP adjusting each depth, then the interpreter and a softmax across planes.
    """

    def __init__(self, config: MPMatConfig) -> None:
        super().__init__()
        self.planes = config.planes
        width = config.plane_channels
        self.extract = PlaneFeatureExtractor(width)
        self.exchange = nn.TransformerEncoderLayer(
            width, nhead=max(1, width // 32), dim_feedforward=2 * width, dropout=0.0, batch_first=True, norm_first=True
        )
        self.adjust = mlp(width, width, 1)
        # Start from the uniform sampling: an untrained PGN keeps the initial depths.
        nn.init.zeros_(self.adjust[-1].weight)
        nn.init.zeros_(self.adjust[-1].bias)
        self.interpret = Interpreter(config.interpreter_channels)

    def forward(self, image: Tensor, depth: Tensor) -> PlaneGenerationOutput:
        batch = image.shape[0]
        initial = initial_plane_depths(depth, self.planes)
        features = self.extract(plane_inputs(image, depth, initial)).view(batch, self.planes, -1)
        features = self.exchange(features)
        span = (depth.flatten(1).amax(1) - depth.flatten(1).amin(1)).clamp_min(_FLAT_RANGE)[:, None]
        depths = initial + self.adjust(features)[..., 0] * span
        logits = self.interpret(plane_inputs(image, depth, depths)).view(batch, self.planes, *image.shape[2:])
        return PlaneGenerationOutput(masks=logits.softmax(1), initial_depths=initial, depths=depths)
