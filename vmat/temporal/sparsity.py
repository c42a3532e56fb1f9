"""Temporal sparsity prediction (MaGGIe supplementary 7.8): where does a matte change between two frames?

Instead of thresholding frame differences by hand, a small network contrasts the features of two
consecutive frames and predicts the binary map of where the matte changes; that map is ``delta(t)`` of
the forward-backward fusion and marks where the refiner may edit the coarse matte.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# |alpha_t - alpha_{t-1}| above this (4 grey levels) counts as a change; below it is quantisation noise.
CHANGE_THRESHOLD = 4.0 / 255.0


class SparsityPredictor(nn.Module):
    """Three conv layers (batch norm and ReLU between them) over the concatenated features of two frames.

    ``forward(previous, current)`` takes two ``(B, C, h, w)`` feature maps and returns change logits
    ``(B, 1, h, w)`` at the features' resolution (the caller upsamples them).
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        hidden = max(features // 2, 4)
        self.layers = nn.Sequential(
            nn.Conv2d(2 * features, features, 3, padding=1, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(inplace=True),
            nn.Conv2d(features, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, previous: Tensor, current: Tensor) -> Tensor:
        return self.layers(torch.cat([previous, current], 1))


def change_target(alpha: Tensor, previous: Tensor, threshold: float = CHANGE_THRESHOLD, grow: int = 2) -> Tensor:
    """Ground-truth change map ``(B, 1, H, W)`` in {0, 1}: ``|alpha - previous| > threshold``, grown by ``grow`` px.

    Growing it asks the predictor for a margin around moving edges, where a coarse matte's error moves too.
    """
    changed = ((alpha - previous).abs() > threshold).float()
    if grow > 0:
        changed = F.max_pool2d(changed, 2 * grow + 1, stride=1, padding=grow)
    return changed
