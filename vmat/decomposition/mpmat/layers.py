"""Small building blocks shared by the MP-Mat modules."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, group norm, GELU. Group norm because training batches hold one or two frames."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(min(8, out_channels), out_channels),
        nn.GELU(),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut: ``(B, C, H, W) -> (B, C, H, W)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_block(channels, channels),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.GroupNorm(min(8, channels), channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.gelu(x + self.body(x))


def mlp(in_features: int, hidden: int, out_features: int) -> nn.Sequential:
    """Two-layer perceptron (the paper's prediction heads, matte and colour predictors)."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(), nn.Linear(hidden, out_features))


def sine_positions(channels: int, height: int, width: int, device: torch.device) -> Tensor:
    """Fixed 2-D sine/cosine position code ``(height * width, channels)`` for attention over a feature map.

    Half the channels encode the row, half the column, at geometrically spaced frequencies (as in DETR);
    coordinates are normalised to [0, 1] so the code means the same at every frame size.
    """
    quarter = channels // 4
    frequencies = torch.exp(torch.arange(quarter, device=device) * (-math.log(1000.0) / max(quarter, 1)))
    rows = (torch.arange(height, device=device) + 0.5) / height * 2 * math.pi
    cols = (torch.arange(width, device=device) + 0.5) / width * 2 * math.pi
    row_code = rows[:, None] * frequencies[None] * 100.0 / (2 * math.pi)
    col_code = cols[:, None] * frequencies[None] * 100.0 / (2 * math.pi)
    row_code = torch.cat([row_code.sin(), row_code.cos()], 1)[:, None].expand(height, width, 2 * quarter)
    col_code = torch.cat([col_code.sin(), col_code.cos()], 1)[None].expand(height, width, 2 * quarter)
    code = torch.cat([row_code, col_code], 2).reshape(height * width, 4 * quarter)
    return nn.functional.pad(code, (0, channels - 4 * quarter))


def masked_average(features: Tensor, masks: Tensor, eps: float = 1e-6) -> Tensor:
    """Average of ``features (B, C, H, W)`` under each of ``masks (B, Q, H, W)`` -> ``(B, Q, C)``.

    An empty mask gives a zero vector.
    """
    total = torch.einsum("bqhw,bchw->bqc", masks, features)
    return total / (masks.flatten(2).sum(2)[..., None] + eps)
