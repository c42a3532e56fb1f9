"""A box or a click on a person becomes that person's mask through the person prior (BlazePose).

GrabCut (:func:`~vmat.propagation.prompts.segment_instance`) separates colours; it cannot know that a
head of dark hair against a dark wall, or legs in front of grass, belong to the person. The landmark
network's segmentation does, so prompts that name a person by a box or positive clicks use it first.
The prior's mask is taken only when it plausibly is the person the user meant: the network says a
person is there, most of the mask lies in the box, and every positive click lands on it. Otherwise
(an object, a dog, a person the network does not see) the prompt goes to GrabCut as before. Negative
clicks and scribbles refine the prior's mask with GrabCut, which treats it as a belief, not a fact.

A box around a person *and* what they ride or push gives the person only: measured from the ground-truth
boxes of DAVIS frames 0 and 30, letting GrabCut add the rest of such a box helped the stroller and the
scooter (IoU +0.2 to +0.4) but took in background around hockey sticks, swing ropes and kite lines
(-0.2 to -0.55). Positive scribbles on the object add it (they go to GrabCut with the person's mask).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vmat.propagation.prompts import Box, InstancePrompt


@dataclass(frozen=True)
class PersonPromptConfig:
    """When the person prior's mask is taken for a prompt."""

    min_presence: float = 0.5
    # Share of the prior's mask that must lie inside a box prompt (grown by `box_margin` of its size).
    min_inside_box: float = 0.8
    box_margin: float = 0.1
    # A positive click counts as on the mask within this many pixels (clicks land on edges too).
    click_tolerance: int = 6
    # The ROI around a lone click is this share of the frame's shorter side; the refine passes then fit it.
    click_roi: float = 0.8
    click_refine_passes: int = 2


def person_mask(
    image: np.ndarray,
    prompt: InstancePrompt,
    blocked: np.ndarray | None = None,
    model=None,
    config: PersonPromptConfig | None = None,
) -> np.ndarray | None:
    """The ``(H, W)`` bool mask of the person ``prompt`` names on an ``(H, W, 3)`` RGB uint8 image, or
    ``None`` when the prompt has neither a box nor a positive click, or the prior does not find a person
    that fits it. ``blocked`` pixels (other instances) are never included."""
    from vmat.person.model import default_person_model, image_to_frames, roi_from_click

    config = config or PersonPromptConfig()
    positive = [(c.x, c.y) for c in prompt.clicks if c.positive]
    if prompt.box is None and not positive:
        return None
    model = model or default_person_model()
    frames = image_to_frames(image)
    height, width = image.shape[:2]
    if prompt.box is not None:
        box = prompt.box
        result = model.segment(frames, torch.tensor([[box.x0, box.y0, box.x1, box.y1]], dtype=torch.float32))
    else:
        point = torch.tensor(np.mean(positive, axis=0, keepdims=True), dtype=torch.float32)
        rois = roi_from_click(point, (height, width), fraction=config.click_roi)
        result = model.segment(frames, rois, refine_passes=config.click_refine_passes)
    if float(result.presence[0]) < config.min_presence:
        return None
    mask = result.masks[0].cpu().numpy() > 0.5
    if blocked is not None:
        mask &= ~blocked
    if not mask.any():
        return None
    if prompt.box is not None and _share_inside(mask, prompt.box, config.box_margin) < config.min_inside_box:
        return None
    if positive:
        near = cv2.dilate(mask.astype(np.uint8), np.ones((2 * config.click_tolerance + 1,) * 2, np.uint8)) > 0
        if not all(near[int(y), int(x)] for x, y in positive):
            return None
    return mask


def _share_inside(mask: np.ndarray, box: Box, margin: float) -> float:
    grow_x, grow_y = margin * (box.x1 - box.x0), margin * (box.y1 - box.y0)
    x0, x1 = max(0, int(box.x0 - grow_x)), int(np.ceil(box.x1 + grow_x))
    y0, y1 = max(0, int(box.y0 - grow_y)), int(np.ceil(box.y1 + grow_y))
    return float(mask[y0:y1, x0:x1].sum()) / float(mask.sum())
