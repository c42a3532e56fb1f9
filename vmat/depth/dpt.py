"""DPT decoder head of Depth-Anything-V2: ViT tokens from four depths -> one dense relative disparity map.

Names follow the published checkpoint (``depth_head.*`` keys). Reassemble: each token map is projected
to its own width and resampled to strides 4, 8, 16 and 32 of the patch grid's pixel scale; fusion: a
coarse-to-fine chain of residual refinement blocks; output: two convolutions around an upsampling to
the input size, ending in a ReLU so that the disparity is non-negative.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class DPTConfig:
    """Widths of the DPT head (defaults: Depth-Anything-V2-Small)."""

    in_channels: int = 384
    features: int = 64
    out_channels: tuple[int, int, int, int] = field(default=(48, 96, 192, 384))
    head_hidden: int = 32
    patch_size: int = 14


class ResidualConvUnit(nn.Module):
    """``x + conv(relu(conv(relu(x))))`` at constant width."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FeatureFusionBlock(nn.Module):
    """Adds a refined skip feature to the coarser path, refines, resizes and projects."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, path: Tensor, skip: Tensor | None = None, size: tuple[int, int] | None = None) -> Tensor:
        """``path`` and ``skip`` are ``(B, F, h, w)``; returns ``(B, F, *size)`` (twice ``h, w`` when no size)."""
        if skip is not None:
            path = path + self.resConfUnit1(skip)
        path = self.resConfUnit2(path)
        if size is None:
            path = F.interpolate(path, scale_factor=2, mode="bilinear", align_corners=True)
        else:
            path = F.interpolate(path, size=size, mode="bilinear", align_corners=True)
        return self.out_conv(path)


class Scratch(nn.Module):
    """The fusion part of the head: per-level 3x3 projections to a common width, fusion chain, output convs."""

    def __init__(self, config: DPTConfig) -> None:
        super().__init__()
        f = config.features
        c1, c2, c3, c4 = config.out_channels
        self.layer1_rn = nn.Conv2d(c1, f, 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(c2, f, 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(c3, f, 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(c4, f, 3, padding=1, bias=False)
        self.refinenet1 = FeatureFusionBlock(f)
        self.refinenet2 = FeatureFusionBlock(f)
        self.refinenet3 = FeatureFusionBlock(f)
        self.refinenet4 = FeatureFusionBlock(f)
        self.output_conv1 = nn.Conv2d(f, f // 2, 3, padding=1)
        self.output_conv2 = nn.Sequential(
            nn.Conv2d(f // 2, config.head_hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(config.head_hidden, 1, 1),
            nn.ReLU(),
        )


class DPTHead(nn.Module):
    """Dense prediction head over a ViT's intermediate token maps."""

    def __init__(self, config: DPTConfig | None = None) -> None:
        super().__init__()
        self.config = config or DPTConfig()
        c = self.config
        c1, c2, c3, c4 = c.out_channels
        self.projects = nn.ModuleList(nn.Conv2d(c.in_channels, oc, 1) for oc in c.out_channels)
        # Patch grid (stride 14 px) -> 4x, 2x, 1x and 0.5x that grid.
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(c1, c1, kernel_size=4, stride=4),
                nn.ConvTranspose2d(c2, c2, kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(c4, c4, kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(c)

    def forward(self, tokens: list[Tensor], grid_h: int, grid_w: int) -> Tensor:
        """Four ``(B, grid_h * grid_w, C_in)`` token maps -> ``(B, 1, 14 * grid_h, 14 * grid_w)`` disparity >= 0."""
        levels = []
        for i, t in enumerate(tokens):
            x = t.transpose(1, 2).reshape(t.shape[0], t.shape[-1], grid_h, grid_w)
            levels.append(self.resize_layers[i](self.projects[i](x)))
        s = self.scratch
        l1, l2, l3, l4 = s.layer1_rn(levels[0]), s.layer2_rn(levels[1]), s.layer3_rn(levels[2]), s.layer4_rn(levels[3])
        path = s.refinenet4(l4, size=tuple(l3.shape[-2:]))
        path = s.refinenet3(path, l3, size=tuple(l2.shape[-2:]))
        path = s.refinenet2(path, l2, size=tuple(l1.shape[-2:]))
        path = s.refinenet1(path, l1)
        out = s.output_conv1(path)
        size = (grid_h * self.config.patch_size, grid_w * self.config.patch_size)
        out = F.interpolate(out, size=size, mode="bilinear", align_corners=True)
        return s.output_conv2(out)
