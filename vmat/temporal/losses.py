"""The training loss of the temporal refiner on the contract's temporal batch.

Every person slot that is present in some frame of a sample becomes one clip of the refiner's batch
(instances folded into the batch). The loss adds, over the frames where the person is present:

- alpha L1 between the (softly fused) refined matte and the ground truth;
- a temporal term ``|d/dt alpha_pred - d/dt alpha_gt|`` (the L1 form of dtSSD), which punishes flicker
  and lag without punishing honest motion;
- binary cross-entropy of the sparsity predictor against the ground-truth change map
  (:func:`~vmat.temporal.sparsity.change_target`), over frame pairs where the person is in either frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from vmat.errors import ConfigError
from vmat.temporal.refiner import TemporalRefiner
from vmat.temporal.soft_fusion import soft_fusion
from vmat.temporal.sparsity import CHANGE_THRESHOLD, change_target


@dataclass(frozen=True)
class TemporalLossConfig:
    """Weights of the loss terms and the fusion trained through (``fusion`` is a :data:`FUSION_MODES` name)."""

    alpha_weight: float = 1.0
    temporal_weight: float = 1.0
    sparsity_weight: float = 0.5
    fusion: str = "both"
    tolerance: float = 0.02
    change_threshold: float = CHANGE_THRESHOLD
    change_grow: int = 2


REQUIRED_KEYS = ("image", "alpha", "coarse_alpha", "present")


def _masked_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Mean of ``values`` ``(N, T, 1, H, W)`` over frames with ``weights`` ``(N, T)`` set (0 when there are none)."""
    per_frame = values.flatten(2).mean(2)
    return (per_frame * weights).sum() / weights.sum().clamp(min=1)


def temporal_loss(
    model: TemporalRefiner, batch: dict[str, Tensor], config: TemporalLossConfig = TemporalLossConfig()
) -> tuple[Tensor, dict[str, float]]:
    """Total loss and its named parts for one temporal batch.

    ``batch`` holds ``"image"`` ``(B, T, 3, H, W)``, ``"alpha"`` and ``"coarse_alpha"`` ``(B, T, M, H, W)`` and
    ``"present"`` ``(B, T, M)`` bool (other keys are ignored). The model is called as
    ``model(images (N, T, 3, H, W), coarse (N, T, 1, H, W))`` with ``N`` = the present (sample, slot) pairs.
    """
    missing = [key for key in REQUIRED_KEYS if key not in batch]
    if missing:
        raise ConfigError(f"the temporal batch lacks {', '.join(missing)}.")
    present = batch["present"].bool()  # (B, T, M)
    sample, slot = torch.nonzero(present.any(1), as_tuple=True)
    if sample.numel() == 0:
        zero = batch["image"].sum() * 0.0
        return zero, {"total": 0.0, "alpha_l1": 0.0, "temporal": 0.0, "sparsity_bce": 0.0}
    images = batch["image"][sample]  # (N, T, 3, H, W)
    coarse = batch["coarse_alpha"][sample, :, slot].unsqueeze(2)  # (N, T, 1, H, W)
    truth = batch["alpha"][sample, :, slot].unsqueeze(2)
    weight = present[sample, :, slot].float()  # (N, T)

    output = model(images, coarse)
    change = torch.sigmoid(output.change_logits)
    alpha = soft_fusion(output.alpha, change, config.fusion, config.tolerance)

    alpha_l1 = _masked_mean((alpha - truth).abs(), weight)
    pair_weight = torch.maximum(weight[:, 1:], weight[:, :-1])
    temporal = _masked_mean(((alpha[:, 1:] - alpha[:, :-1]) - (truth[:, 1:] - truth[:, :-1])).abs(), pair_weight)
    target = change_target(truth[:, 1:].flatten(0, 1), truth[:, :-1].flatten(0, 1), config.change_threshold, config.change_grow)
    bce = F.binary_cross_entropy_with_logits(output.change_logits[:, 1:].flatten(0, 1), target, reduction="none")
    sparsity = _masked_mean(bce.unflatten(0, pair_weight.shape), pair_weight) if alpha.shape[1] > 1 else alpha_l1 * 0.0

    total = config.alpha_weight * alpha_l1 + config.temporal_weight * temporal + config.sparsity_weight * sparsity
    parts = {"total": total.item(), "alpha_l1": alpha_l1.item(), "temporal": temporal.item(), "sparsity_bce": sparsity.item()}
    return total, parts
