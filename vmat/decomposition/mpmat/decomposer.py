"""The MP-Mat network as a frame decomposer, interchangeable with :class:`MaskMattingDecomposer`.

Depth convention: ``decompose`` takes depth as the pipeline's depth stage gives it, an ``(H, W)`` map where
larger = farther (vmat's relative depth, [0, 1] with smaller = nearer, is such a map; so is metric depth).
The network wants [0, 1] with smaller = nearer, so the map is min-max normalised per frame, which keeps the
order and drops scale and offset. Plane depths for the layer stack are medians of the map as given. With no
depth map, each person's depth comes from where their mask touches the ground (lower in the frame is nearer)
and the network sees that value over the person and 1 (farthest) elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from vmat.decomposition.mask_matting import feet_depth, stack_planes
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import shrink_ids, shrink_image
from vmat.geometry import processing_size
from vmat.decomposition.mpmat.model import MPMat
from vmat.depth.base import resolve_device
from vmat.errors import ConfigError
from vmat.layers import LayerStack

# Below this value range a depth map counts as flat: the network then sees every pixel at the far end.
_FLAT_RANGE = 1e-6


def fold_into_background(weights: Tensor, colour: Tensor, keep: list[int]) -> tuple[Tensor, Tensor]:
    """Merge every plane not in ``keep`` into plane 0, so the result still sums to one per pixel.

    ``weights (Q, H, W)``, ``colour (Q, 3, H, W)`` -> ``(1 + len(keep), H, W)``, ``(1 + len(keep), 3, H, W)``;
    plane 0 gets the summed weight of the folded planes and their weight-averaged colour (the background's own
    colour where that weight is zero), then ``keep``'s planes follow in the order given.
    """
    kept = set(keep)
    folded = [plane for plane in range(weights.shape[0]) if plane not in kept]
    folded_weights = weights[folded]
    background_weight = folded_weights.sum(0)
    blended = (folded_weights[:, None] * colour[folded]).sum(0) / background_weight.clamp_min(1e-12)
    background_colour = torch.where(background_weight[None] > 0, blended, colour[0])
    return (
        torch.cat([background_weight[None], weights[keep]], 0),
        torch.cat([background_colour[None], colour[keep]], 0),
    )


def network_depth(depth: np.ndarray | None, id_mask: np.ndarray) -> np.ndarray:
    """The ``(H, W)`` float32 depth map the network sees: [0, 1], smaller = nearer (see the module docstring)."""
    if depth is None:
        result = np.ones(id_mask.shape, np.float32)
        for instance in np.unique(id_mask[id_mask != 0]):
            mask = id_mask == instance
            result[mask] = feet_depth(mask)
        return result
    low, high = float(depth.min()), float(depth.max())
    if high - low < _FLAT_RANGE:
        return np.ones(depth.shape, np.float32)
    return ((depth - low) / (high - low)).astype(np.float32)


class NetworkDecomposer:
    """Decompose frames into layers with an MP-Mat network.

    ``decompose(image, id_mask, depth=None, instance_ids=None) -> LayerStack`` with ``image (H, W, 3)`` uint8
    RGB, ``id_mask (H, W)`` integer ids (0 = background), ``depth (H, W)`` float, larger = farther. The stack has
    one plane per id in ``instance_ids`` (absent ids get an empty plane) or per id in the mask. Person ``i``'s
    mask is guidance slot ``instance_ids.index(i)`` when the clip's ids fit in the model's slots, so a person
    keeps their slot in every frame; otherwise the people present take the slots in id order. Free-query
    planes are folded into the background.

    The frame is processed with its longer side at most ``max_side``, and the layers are brought back to the
    frame's size along its edges (:func:`~vmat.decomposition.resolution.upsample_layers`).
    """

    def __init__(self, model: MPMat, max_side: int = 512, device: str | torch.device | None = None) -> None:
        if max_side < 16:
            raise ConfigError(f"The MP-Mat processing size must be at least 16 pixels, not {max_side}.")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.max_side = max_side

    def _slots(self, ids: list[int], present: list[int]) -> list[int]:
        capacity = self.model.config.guided_slots
        if len(ids) <= capacity:
            return [ids.index(instance) for instance in present]
        if len(present) > capacity:
            raise ConfigError(f"This MP-Mat model holds at most {capacity} people per frame; {len(present)} are in it.")
        return list(range(len(present)))

    def decompose(
        self,
        image: np.ndarray,
        id_mask: np.ndarray,
        depth: np.ndarray | None = None,
        instance_ids: list[int] | None = None,
    ) -> LayerStack:
        height, width = id_mask.shape
        ids, present, plane_depths = stack_planes(id_mask, depth, instance_ids)
        slots = self._slots(ids, present)

        size = processing_size(width, height, self.max_side)
        small_image = shrink_image(image, size)
        small_ids = shrink_ids(id_mask.astype(np.int32), size)
        small_depth = cv2.resize(network_depth(depth, id_mask), size, interpolation=cv2.INTER_AREA)
        guidance = np.zeros((self.model.config.guided_slots, size[1], size[0]), np.float32)
        for instance, slot in zip(present, slots, strict=True):
            guidance[slot] = small_ids == instance

        with torch.inference_mode():
            output = self.model(
                torch.from_numpy(small_image).permute(2, 0, 1)[None].float().div(255.0).to(self.device),
                torch.from_numpy(small_depth)[None, None].to(self.device),
                torch.from_numpy(guidance)[None].to(self.device),
            )
            weights, colour = fold_into_background(
                output.weights[0], output.colour[0], [1 + slot for slot in slots]
            )
        # Absent ids keep an empty plane, so every stack of a clip has the same planes.
        all_weights = torch.zeros((1 + len(ids), size[1], size[0]))
        all_colour = torch.zeros((1 + len(ids), 3, size[1], size[0]))
        rows = [0, *(1 + ids.index(instance) for instance in present)]
        all_weights[rows] = weights.float().cpu()
        all_colour[rows] = colour.float().cpu()
        return upsample_layers(LayerStack.from_weights(all_weights, all_colour, torch.from_numpy(plane_depths), (0, *ids)), image)
