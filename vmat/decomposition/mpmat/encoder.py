"""Scene encoder: RGB-D frame -> per-frame features at 1/2 and 1/4 resolution."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.layers import ResidualBlock, conv_block


def centred_rgbd(image: Tensor, depth: Tensor) -> Tensor:
    """``image (B, 3, H, W)`` and ``depth (B, 1, H, W)`` in [0, 1] -> ``(B, 4, H, W)`` in [-1, 1]."""
    return torch.cat([image, depth], 1) * 2.0 - 1.0


class SceneEncoder(nn.Module):
    """A light CNN over the RGB-D input.

    ``forward(image (B, 3, H, W), depth (B, 1, H, W)) -> (half (B, c1, H/2, W/2), quarter (B, C, H/4, W/4))``
    with ``H`` and ``W`` multiples of 4; ``C = config.feature_channels`` are the scene features of SG-MP.
    """

    def __init__(self, config: MPMatConfig) -> None:
        super().__init__()
        half, quarter = config.encoder_channels
        self.to_half = nn.Sequential(conv_block(4, half, stride=2), conv_block(half, half))
        self.to_quarter = nn.Sequential(
            conv_block(half, quarter, stride=2),
            *[ResidualBlock(quarter) for _ in range(config.encoder_blocks)],
            nn.Conv2d(quarter, config.feature_channels, 1),
        )

    def forward(self, image: Tensor, depth: Tensor) -> tuple[Tensor, Tensor]:
        half = self.to_half(centred_rgbd(image, depth))
        return half, self.to_quarter(half)
