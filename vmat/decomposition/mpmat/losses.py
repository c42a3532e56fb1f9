"""MP-Mat training losses (section 3.2.3, appendix B; multi-instance composition from InstMatt eq. 10).

    L = lambda_1 * L_detect + lambda_2 * (L_alpha + L_lap + L_comp) + L_fg + L_bg + L_unc

with ``lambda_1 = 1`` and ``lambda_2 = 5`` (appendix B.1). ``L_detect`` is the object / no-object
classification of every plane (appendix B.2); the paper's box localisation term is left out because guided
planes are tied to their person by identity and free planes are matched on their whole matte. InstMatt's
alpha constraint (eq. 11) needs no term: the weights are a softmax over planes, so they sum to one exactly.
``L_fg`` (colour of each person where its alpha > 0), ``L_bg`` (background colour everywhere) and ``L_unc``
(the uncertainty map regressing the matte's own error) have weight 1.

Ablations: when the network copies the input image as a plane's colour instead of predicting it
(``MPMatOutput.person_colour_predicted`` / ``background_colour_predicted`` False) the colour terms on those
planes are constant, so they are left out of the loss and of its named parts; with no colour predicted at
all ``L_comp`` is constant (the weights sum to one) and is left out too.

Plane targets: plane 0 is the background (weight ``1 - sum_m alpha_m``); guided person ``m`` is plane ``m``;
a person with no guidance is matched to a free plane by Hungarian matching on alpha L1 + classification.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn

from vmat.decomposition.mpmat.model import MPMatOutput
from vmat.errors import ConfigError

DETECT_WEIGHT = 1.0  # lambda_1
MATTING_WEIGHT = 5.0  # lambda_2
PYRAMID_LEVELS = 5

# Separable 5-tap binomial filter: the Gaussian of the Burt-Adelson pyramid.
_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: Tensor) -> Tensor:
    channels = x.shape[1]
    kernel = (_BINOMIAL[:, None] * _BINOMIAL[None]).to(x)[None, None].expand(channels, 1, 5, 5)
    # Replicated borders keep a constant image constant, so flat regions give no band energy.
    return nn.functional.conv2d(nn.functional.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=channels)


def laplacian_pyramid(x: Tensor, levels: int = PYRAMID_LEVELS) -> list[Tensor]:
    """Band-pass levels of ``x (B, C, H, W)``, finest first; the last entry is the coarse residual.

    Each band is ``current - upsample(downsample(blur(current)))`` (bilinear upsampling back to the
    current size, so any ``H, W`` works); summing the bands back up reconstructs ``x``.
    """
    bands = []
    current = x
    for _ in range(levels - 1):
        down = _blur(current)[..., ::2, ::2]
        up = nn.functional.interpolate(down, size=current.shape[2:], mode="bilinear", align_corners=False)
        bands.append(current - up)
        current = down
    bands.append(current)
    return bands


def laplacian_pyramid_loss(prediction: Tensor, target: Tensor, levels: int = PYRAMID_LEVELS) -> Tensor:
    """``sum_l 2^l * mean |lap_l(prediction) - lap_l(target)|`` over ``(B, C, H, W)`` mattes.

    Coarser levels weigh more (as in the matting literature) because each of their pixels covers ``4^l``
    input pixels. The pyramid is linear, so this is the pyramid of the difference.
    """
    bands = laplacian_pyramid(prediction - target, levels)
    # Start from a zero tensor, not the int 0, so the result is a Tensor even with no bands (0 + x is exact).
    return sum(((2.0**level) * band.abs().mean() for level, band in enumerate(bands)), prediction.new_zeros(()))


def alpha_loss(weights: Tensor, target: Tensor) -> Tensor:
    """``mean over pixels of sum over planes |w_i - alpha_i|`` for ``(B, Q, H, W)`` weights and targets."""
    return (weights - target).abs().sum(1).mean()


def composition_loss(weights: Tensor, colour: Tensor, image: Tensor) -> Tensor:
    """InstMatt eq. 10, multi-instance form: ``mean |sum_i w_i c_i - I|``.

    ``weights (B, Q, H, W)``, ``colour (B, Q, 3, H, W)``, ``image (B, 3, H, W)``.
    """
    return ((weights[:, :, None] * colour).sum(1) - image).abs().mean()


def masked_l1(prediction: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Mean ``|prediction - target|`` over the pixels where ``mask`` is 1; 0 when the mask is empty.

    ``prediction`` and ``target`` ``(..., C, H, W)``, ``mask`` ``(..., 1, H, W)`` broadcasting over ``C``.
    """
    error = (mask * (prediction - target).abs()).sum()
    return error / (mask.sum() * prediction.shape[-3]).clamp_min(1.0)


def match_free_queries(weights: Tensor, object_logits: Tensor, targets: Tensor) -> list[tuple[int, int]]:
    """Hungarian matching of ``G`` unguided people to ``F`` free planes (``G <= F``).

    ``weights (F, H, W)``, ``object_logits (F,)``, ``targets (G, H, W)``. The cost of plane ``f`` for person
    ``g`` is ``mean |w_f - alpha_g| - sigmoid(logit_f)`` (alpha L1 plus the DETR classification cost).
    Returns ``(plane, person)`` pairs sorted by plane; every person is matched.
    """
    if targets.shape[0] == 0:
        return []
    if targets.shape[0] > weights.shape[0]:
        raise ConfigError(f"{targets.shape[0]} unguided people cannot be matched to {weights.shape[0]} free planes.")
    alpha_cost = (weights[:, None] - targets[None]).abs().flatten(2).mean(2)
    cost = alpha_cost - object_logits.sigmoid()[:, None]
    planes, people = linear_sum_assignment(cost.detach().cpu().double().numpy())
    return sorted(zip(planes.tolist(), people.tolist(), strict=True))


@dataclass
class PlaneTargets:
    alpha: Tensor  # (B, Q, H, W) target weight of every plane (0 for unmatched planes)
    colour: Tensor  # (B, Q, 3, H, W) target colour where known
    colour_known: Tensor  # (B, Q, 1, H, W) 1 where the target colour is supervised
    is_object: Tensor  # (B, Q) float: 1 for the background and matched planes


def plane_targets(output: MPMatOutput, batch: dict[str, Tensor]) -> PlaneTargets:
    """Assign the batch's ground truth to output planes (see the module docstring)."""
    weights = output.weights
    count, planes = weights.shape[:2]
    alpha = batch["alpha"]
    # Python lists: the per-item loop below would otherwise sync with the device at every lookup.
    guided, present = batch["guided"].bool().tolist(), batch["present"].bool().tolist()
    slots = alpha.shape[1]
    if slots > output.slots:
        raise ConfigError(f"The batch has {slots} guidance slots but the model holds {output.slots}.")
    target_alpha = torch.zeros_like(weights)
    target_colour = torch.zeros_like(output.colour)
    known = torch.zeros_like(weights[:, :, None])
    is_object = torch.zeros_like(output.object_logits)

    target_alpha[:, 0] = (1.0 - alpha.sum(1)).clamp_min(0.0)
    target_colour[:, 0] = batch["background"]
    known[:, 0] = 1.0
    is_object[:, 0] = 1.0
    free = slice(1 + output.slots, planes)
    for item in range(count):
        assignment = [(1 + slot, slot) for slot in range(slots) if guided[item][slot]]
        unguided = [slot for slot in range(slots) if present[item][slot] and not guided[item][slot]]
        matches = match_free_queries(
            weights[item, free], output.object_logits[item, free], alpha[item, unguided]
        )
        assignment += [(1 + output.slots + plane, unguided[person]) for plane, person in matches]
        for plane, slot in assignment:
            target_alpha[item, plane] = alpha[item, slot]
            target_colour[item, plane] = batch["foreground"][item, slot]
            known[item, plane, 0] = (alpha[item, slot] > 0).to(known.dtype)
            is_object[item, plane] = 1.0
    return PlaneTargets(target_alpha, target_colour, known, is_object)


def mpmat_loss(output: MPMatOutput, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    """Total training loss and its named parts (floats, for logging). ``batch`` follows the shared contract."""
    targets = plane_targets(output, batch)
    parts = {
        "classification": nn.functional.binary_cross_entropy_with_logits(output.object_logits, targets.is_object),
        "alpha": alpha_loss(output.weights, targets.alpha),
        "laplacian": laplacian_pyramid_loss(output.weights, targets.alpha),
    }
    if output.person_colour_predicted or output.background_colour_predicted:
        parts["composition"] = composition_loss(output.weights, output.colour, batch["image"])
    if output.person_colour_predicted:
        parts["foreground"] = masked_l1(output.colour[:, 1:], targets.colour[:, 1:], targets.colour_known[:, 1:])
    if output.background_colour_predicted:
        parts["background"] = (output.colour[:, 0] - batch["background"]).abs().mean()
    parts["uncertainty"] = (output.uncertainty - (output.weights - targets.alpha).abs().detach()).abs().mean()

    matting = parts["alpha"] + parts["laplacian"]
    if "composition" in parts:
        matting = matting + parts["composition"]
    total = DETECT_WEIGHT * parts["classification"] + MATTING_WEIGHT * matting
    for name in ("foreground", "background", "uncertainty"):
        if name in parts:
            total = total + parts[name]
    logged = {name: float(value.detach()) for name, value in parts.items()}
    logged["total"] = float(total.detach())
    return total, logged
