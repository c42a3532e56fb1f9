"""The MP-Mat network: RGB-D frame + guidance masks -> instance-level multiplane representation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.encoder import SceneEncoder
from vmat.decomposition.mpmat.instance_decoder import InstanceDecoder, InstanceEmbeddings
from vmat.decomposition.mpmat.pixel_decoder import PixelDecoder, PixelFeatures
from vmat.decomposition.mpmat.plane_generation import PlaneGenerationNetwork
from vmat.errors import ConfigError

# The interpreter UNet halves the 1/4-resolution features twice, so inputs are padded to this multiple.
STRIDE = 16


@dataclass
class MPMatOutput:
    """Inst-MP of a batch; ``Q = 1 + K`` planes: 0 background, ``1..M`` guided slots, ``M+1..K`` free."""

    weights: Tensor  # (B, Q, H, W) effective weights, softmax over planes: they sum to 1 per pixel
    colour: Tensor  # (B, Q, 3, H, W) straight colour in [0, 1]
    object_logits: Tensor  # (B, Q) object / no-object logit per plane
    uncertainty: Tensor  # (B, Q, H, W) predicted uncertainty in [0, 1] per plane
    features: Tensor  # (B, C, ceil(H/4), ceil(W/4)) per-frame scene features
    plane_masks: Tensor  # (B, N, ceil(H/4), ceil(W/4)) SG-MP plane-distinctive masks (N = 0 without planes)
    slots: int  # M: planes 1..M are the guided slots
    background_colour_predicted: bool = True  # False: plane 0's colour is the input image (ablation)
    person_colour_predicted: bool = True  # False: planes 1..K's colour is the input image (ablation)


def _pad(x: Tensor, bottom: int, right: int, mode: str) -> Tensor:
    return nn.functional.pad(x, (0, right, 0, bottom), mode=mode) if bottom or right else x


class MPMat(nn.Module):
    """``forward(image (B, 3, H, W), depth (B, 1, H, W), guidance (B, M', H, W)) -> MPMatOutput``.

    ``image`` in [0, 1]; ``depth`` in [0, 1], smaller = nearer; ``guidance`` {0, 1} masks, slot ``m`` for
    person ``m`` (all zero: no guidance), ``M' <= config.guided_slots`` (missing slots count as empty). Any
    ``H, W``: the input is padded to a multiple of 16 inside and the output cropped back.

    The config's ablation switches remove components: without depth the network sees zeros for it; without
    planes SG-MP is the scene features alone and ``plane_masks`` has 0 channels; without colour estimation
    (or without the background instance) the affected planes' colour is the input image itself.
    """

    def __init__(self, config: MPMatConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SceneEncoder(config)
        self.plane_generation = PlaneGenerationNetwork(config) if config.use_planes else None
        self.pixel_decoder = PixelDecoder(config)
        self.instance_decoder = InstanceDecoder(config)

    def forward(self, image: Tensor, depth: Tensor, guidance: Tensor) -> MPMatOutput:
        batch, _, height, width = image.shape
        slots = self.config.guided_slots
        guidance_ok = guidance.ndim == 4 and (guidance.shape[0], *guidance.shape[2:]) == (batch, height, width)
        if depth.shape != (batch, 1, height, width) or not guidance_ok:
            raise ConfigError(
                f"MP-Mat needs depth (B, 1, H, W) and guidance (B, M, H, W) matching image {tuple(image.shape)}."
            )
        if guidance.shape[1] > slots:
            raise ConfigError(
                f"This MP-Mat model holds at most {slots} guided people per frame, got {guidance.shape[1]}."
            )
        guidance = nn.functional.pad(guidance.to(image.dtype), (0, 0, 0, 0, 0, slots - guidance.shape[1]))
        if not self.config.use_depth:
            depth = torch.zeros_like(depth)
        bottom, right = -height % STRIDE, -width % STRIDE
        # Replicated borders keep the padding from looking like an edge or a near surface.
        image, depth = _pad(image, bottom, right, "replicate"), _pad(depth, bottom, right, "replicate")
        guidance = _pad(guidance, bottom, right, "constant")

        half, features = self.encoder(image, depth)
        small = features.shape[2:]
        if self.plane_generation is None:
            plane_masks = features.new_zeros(batch, 0, *small)
        else:
            plane_masks = self.plane_generation(
                nn.functional.adaptive_avg_pool2d(image, small), nn.functional.adaptive_avg_pool2d(depth, small)
            ).masks
        sg_mp = torch.cat([features, plane_masks], 1)
        pixels = self.pixel_decoder(half, sg_mp, image, depth, guidance)
        instances = self.instance_decoder(sg_mp, pixels.coarse, nn.functional.adaptive_avg_pool2d(guidance, small))

        weights = torch.einsum("bqe,behw->bqhw", instances.matte, pixels.matte).softmax(1)
        colour = self._colour(instances, pixels, image)
        uncertainty = nn.functional.interpolate(
            instances.uncertainty_logits, size=image.shape[2:], mode="bilinear", align_corners=False
        ).sigmoid()
        small_height, small_width = -(-height // 4), -(-width // 4)
        return MPMatOutput(
            weights=weights[..., :height, :width],
            colour=colour[..., :height, :width],
            object_logits=instances.object_logits,
            uncertainty=uncertainty[..., :height, :width],
            features=features[..., :small_height, :small_width],
            plane_masks=plane_masks[..., :small_height, :small_width],
            slots=slots,
            background_colour_predicted=self.config.colour_estimation and self.config.background_instance,
            person_colour_predicted=self.config.colour_estimation,
        )

    def _colour(self, instances: InstanceEmbeddings, pixels: PixelFeatures, image: Tensor) -> Tensor:
        """``(B, Q, 3, H, W)``: predicted straight colour, or the image itself on planes whose colour is ablated."""
        planes = 1 + self.config.queries
        if instances.colour is None or pixels.colour is None:
            return image[:, None].expand(-1, planes, -1, -1, -1)
        colour = torch.einsum("bqke,behw->bqkhw", instances.colour, pixels.colour).sigmoid()
        if not self.config.background_instance:
            colour = torch.cat([image[:, None], colour[:, 1:]], 1)
        return colour
