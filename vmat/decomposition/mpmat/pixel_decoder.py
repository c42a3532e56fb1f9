"""Pixel decoder: per-pixel embeddings that the instance embeddings are dotted with."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.encoder import centred_rgbd
from vmat.decomposition.mpmat.layers import conv_block


def _up(x: Tensor, like: Tensor) -> Tensor:
    return nn.functional.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


@dataclass
class PixelFeatures:
    coarse: Tensor  # (B, E, H/4, W/4): uncertainty maps and refinement pooling use these
    matte: Tensor  # (B, E + M + 1, H, W): opacity embeddings are dotted with these
    colour: Tensor | None  # (B, E + 4, H, W): each colour channel's embedding is dotted with these; None
    # when the config has no colour estimation


class PixelDecoder(nn.Module):
    """Upsamples SG-MP to full resolution, fusing encoder skips, the RGB-D frame and the guidance masks.

    ``forward(half (B, c1, H/2, W/2), sg_mp (B, C + N, H/4, W/4), image (B, 3, H, W), depth (B, 1, H, W),
    guidance (B, M, H, W)) -> PixelFeatures``.

    The guidance masks enter at every scale so the mattes can follow their edges, and are appended as they
    are to the matte features (with a constant channel, a per-plane bias): opacity embedding ``m`` can then
    pick guidance channel ``m`` linearly. The colour features likewise carry the frame itself and a constant,
    so a plane's colour can copy the image or be a flat colour. Without colour estimation no colour
    features are made.
    """

    def __init__(self, config: MPMatConfig) -> None:
        super().__init__()
        width, slots = config.embedding, config.guided_slots
        half = config.encoder_channels[0]
        self.colour_estimation = config.colour_estimation
        self.coarse = conv_block(config.feature_channels + config.sg_mp_planes + slots, width)
        self.middle = conv_block(width + half + slots, width)
        outputs = 2 * width if config.colour_estimation else width
        self.full = nn.Sequential(conv_block(width + 4 + slots, width), nn.Conv2d(width, outputs, 1))

    def forward(self, half: Tensor, sg_mp: Tensor, image: Tensor, depth: Tensor, guidance: Tensor) -> PixelFeatures:
        coarse = self.coarse(torch.cat([sg_mp, nn.functional.adaptive_avg_pool2d(guidance, sg_mp.shape[2:])], 1))
        middle_guidance = nn.functional.adaptive_avg_pool2d(guidance, half.shape[2:])
        middle = self.middle(torch.cat([_up(coarse, half), half, middle_guidance], 1))
        rgbd = centred_rgbd(image, depth)
        full = self.full(torch.cat([_up(middle, image), rgbd, guidance], 1))
        ones = torch.ones_like(depth)
        if not self.colour_estimation:
            return PixelFeatures(coarse=coarse, matte=torch.cat([full, guidance, ones], 1), colour=None)
        matte, colour = full.chunk(2, 1)
        return PixelFeatures(
            coarse=coarse,
            matte=torch.cat([matte, guidance, ones], 1),
            colour=torch.cat([colour, rgbd[:, :3], ones], 1),
        )
