"""A preview image that labels every person with their instance id, so users can pick ids for edits."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vmat.layers.compositing import tensor_to_image
from vmat.layers.stack import LayerStack

# Distinct, saturated tints; ids cycle through them.
_PALETTE = np.array(
    [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
     (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212)],
    dtype=np.float32,
) / 255.0


def id_colour(instance_id: int) -> tuple[float, float, float]:
    """The tint used for ``instance_id`` in previews, RGB in [0, 1]."""
    r, g, b = _PALETTE[(int(instance_id) - 1) % len(_PALETTE)]
    return float(r), float(g), float(b)


def label_preview(stack: LayerStack, tint: float = 0.45) -> np.ndarray:
    """The frame with each person tinted in their own colour and their id written on them.

    Args:
        stack: the frame's layers.
        tint: how strongly a person's visible pixels are pulled towards their tint colour.

    Returns:
        ``(H, W, 3)`` uint8 RGB image.
    """
    weights = stack.weights().detach().cpu()
    image = stack.render().detach().cpu()
    for plane, instance_id in enumerate(stack.ids):
        if plane == 0:
            continue
        colour = torch.tensor(id_colour(instance_id))[:, None, None]
        image = image + tint * weights[plane] * (colour - image)
    picture = np.ascontiguousarray(tensor_to_image(image))
    scale = max(0.4, min(stack.width, stack.height) / 400.0)
    thickness = max(1, round(scale * 2))
    for plane, instance_id in enumerate(stack.ids):
        visible = weights[plane].numpy() > 0.5
        if plane == 0 or not visible.any():
            continue
        ys, xs = np.nonzero(visible)
        x, y = int(np.median(xs)), int(np.median(ys))
        text = str(instance_id)
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        origin = (max(0, x - w // 2), max(h, y + h // 2))
        cv2.putText(picture, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness * 3, cv2.LINE_AA)
        cv2.putText(picture, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return picture
