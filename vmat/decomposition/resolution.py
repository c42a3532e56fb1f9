"""Working below the source resolution: shrink a frame for the model stages, bring its layers back up.

Masks, depth and decomposition cost roughly in proportion to the pixel count, so they can run at a
processing size (``--process-size``: the longer side in pixels) and the layers are brought back to the
source size before edits. Coming back up does not just enlarge the layers, which would blur the whole
output:

- each person's own alpha follows the full-size frame's edges in the band where it is soft (guided
  upsampling: the guided filter's coefficients are fitted at the small size and applied to the full-size
  frame), and stays exactly 0 or 1 elsewhere;
- wherever a plane is what the camera saw (its visible weight at least ``opaque_above``), its colour is the
  full-size frame's pixel, so unedited content keeps all its detail; only soft edges and background filled in
  behind people come from the enlarged small layers;
- except where background completion changed the ground the camera saw (a removed person's lifted shadow,
  ground a matte missed): there the frame's pixel is what the edit takes away, so the background is the
  enlarged small one (``redrawn``), or, for a lift (``relit``), that plus the frame's detail finer than the
  small layers hold, which keeps the ground's full-size grain.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vmat.filters import guided_coefficients
from vmat.geometry import enlarge
from vmat.layers import LayerStack
from vmat.layers.compositing import effective_weights
from vmat.layers.stack import BACKGROUND_ID


@dataclass(frozen=True)
class UpsampleConfig:
    radius: int = 2  # guided-filter window radius, in processing-size pixels
    eps: float = 1e-3  # guided-filter regularisation
    opaque_above: float = 0.99  # visible weight from which a plane's colour is the full-size frame's


def _region(mask: np.ndarray, full_size: tuple[int, int], margin: int) -> tuple[slice, slice] | None:
    """The full-size box covering ``mask``'s (small) true pixels, grown by ``margin`` full-size pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    scale_x, scale_y = full_size[0] / mask.shape[1], full_size[1] / mask.shape[0]
    return (
        slice(max(0, int(rows[0] * scale_y) - margin), min(full_size[1], int(np.ceil((rows[-1] + 1) * scale_y)) + margin)),
        slice(max(0, int(cols[0] * scale_x) - margin), min(full_size[0], int(np.ceil((cols[-1] + 1) * scale_x)) + margin)),
    )


def upsample_layers(
    stack: LayerStack,
    image: np.ndarray,
    config: UpsampleConfig = UpsampleConfig(),
    discard: Collection[int] = (),
    *,
    redrawn: np.ndarray | None = None,
    relit: np.ndarray | None = None,
) -> LayerStack:
    """``stack`` (made at a processing size) at the size of ``image`` ``(H, W, 3)`` uint8, the full-size frame.

    Only the boxes around people are resampled; elsewhere the background is the frame itself. The planes of
    the ids in ``discard`` (people an edit removes; 0 for a background it replaces) get no colour, as it would
    not be seen; their alpha is made all the same, as it decides what the other planes show.

    ``redrawn`` and ``relit`` ``(h, w)`` bool, at the stack's size: where the stack's background is no longer the
    ground the camera saw (completion drew it from elsewhere), and where it is that ground brightened (a lifted
    shadow). The first takes the enlarged background, the second the same plus the frame's detail finer than the
    stack holds (the frame less the shrunk frame enlarged, within the grain of the ground left as it was around
    it: :func:`_ground_detail`); both blend into the frame over one small pixel.
    """
    height, width = image.shape[:2]
    if (stack.height, stack.width) == (height, width):
        return stack
    full_size = (width, height)
    full = image.astype(np.float32) / 255.0
    small = cv2.resize(full, (stack.width, stack.height), interpolation=cv2.INTER_AREA)
    small_alpha = stack.alpha.cpu().numpy()
    small_colour = stack.colour.cpu().permute(0, 2, 3, 1).numpy()
    planes = len(stack.ids)
    alpha = np.zeros((planes, height, width), np.float32)
    alpha[0] = 1.0
    colour = np.zeros((planes, height, width, 3), np.float32)
    if BACKGROUND_ID not in discard:
        colour[0] = full
    small_size = (stack.width, stack.height)
    margin = 2 + round(config.radius * width / stack.width)
    # The guided filter's coefficients reach 2 * radius small pixels (two box filters) beyond what they serve.
    small_margin = 2 + round(margin * stack.width / width) + 2 * config.radius
    union = np.zeros((stack.height, stack.width), bool)
    for plane in range(1, planes):
        region = _region(small_alpha[plane] > 0, full_size, margin)
        if region is None:
            continue
        union |= small_alpha[plane] > 0
        enlarged = enlarge(small_alpha[plane], small_size, full_size, *region)
        soft = (enlarged > 0) & (enlarged < 1)
        if soft.any():
            small_region = _region(small_alpha[plane] > 0, small_size, small_margin)
            assert small_region is not None  # the plane has soft pixels, so its mask is not empty
            rows, cols = small_region
            a, b = guided_coefficients(small[rows, cols], small_alpha[plane][rows, cols], config.radius, config.eps)
            origin = (rows.start, cols.start)
            guided = np.einsum("hwc,hwc->hw", enlarge(a, small_size, full_size, *region, origin), full[region])
            guided += enlarge(b, small_size, full_size, *region, origin)
            enlarged = np.where(soft, np.clip(guided, 0.0, 1.0), enlarged)
        alpha[plane][region] = enlarged
        if stack.ids[plane] not in discard:
            colour[plane][region] = enlarge(small_colour[plane], small_size, full_size, *region)
    region = _region(union, full_size, margin)
    if region is not None:
        # Inside the people's box, the frame's own pixel wherever a plane is what the camera saw.
        if BACKGROUND_ID not in discard:
            colour[0][region] = enlarge(small_colour[0], small_size, full_size, *region)
        seen = effective_weights(torch.from_numpy(alpha[(slice(None), *region)]), stack.order()).numpy() >= config.opaque_above
        for plane in [plane for plane in range(planes) if stack.ids[plane] not in discard]:
            colour[plane][region][seen[plane]] = full[region][seen[plane]]
    if BACKGROUND_ID not in discard and (redrawn is not None or relit is not None):
        _changed_ground(colour[0], small, small_colour[0], full_size, redrawn, relit)
    return LayerStack(torch.from_numpy(colour).permute(0, 3, 1, 2), torch.from_numpy(alpha), stack.depth.clone(), stack.ids)


_GRAIN_SAMPLES = 8192


def _ground_detail(detail: np.ndarray, ground: np.ndarray) -> np.ndarray:
    """The frame's fine ``detail`` ``(h, w, 3)`` within the grain of the ``ground`` ``(h, w)`` bool that completion
    left as it was around it: each channel clipped to that ground's median plus or minus 4 robust deviations
    (1.4826 times the median absolute deviation, at least 2 levels). A lift at the small size takes in what the
    matte missed next to the feet (a white sole's edge): its detail at the full size is far outside the
    ground's grain (a shadow's own is fainter still), and added back it drew the sole again as a bright
    sliver."""
    ys, xs = np.nonzero(ground)
    if ys.size < 16:
        return detail
    step = max(1, ys.size // _GRAIN_SAMPLES)  # evenly spread samples: a median of 8192 is as good as of all
    values = detail[ys[::step], xs[::step]]
    middle = np.median(values, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(values - middle), axis=0), 2.0 / 255.0)
    return np.clip(detail, middle - 4.0 * spread, middle + 4.0 * spread)


def _changed_ground(
    colour: np.ndarray,
    small_frame: np.ndarray,
    small_background: np.ndarray,
    full_size: tuple[int, int],
    redrawn: np.ndarray | None,
    relit: np.ndarray | None,
) -> None:
    """Lay the small background over the full-size one ``colour`` ``(H, W, 3)`` (in place) where completion
    changed the ground the camera saw: see :func:`upsample_layers`."""
    masks = [mask if mask is not None else np.zeros(small_frame.shape[:2], bool) for mask in (redrawn, relit)]
    region = _region(masks[0] | masks[1], full_size, 2)
    if region is None:
        return
    small_size = (small_frame.shape[1], small_frame.shape[0])
    # Bilinear weights of the two masks: they sum to at most 1, and ramp over the pixels between small ones.
    redrawn_weight, relit_weight = (enlarge(mask.astype(np.float32), small_size, full_size, *region)[..., None] for mask in masks)
    background = enlarge(small_background, small_size, full_size, *region)
    # A lift keeps the frame's detail finer than the small layers hold, added, not multiplied: a ratio to the
    # shrunk frame would blow a dark thing in the shadow (a boot's edge the matte missed) up to white, and the
    # lift already gave its ground the lit ground's grain at the small size.
    here = colour[region]
    untouched = (redrawn_weight[..., 0] + relit_weight[..., 0]) == 0
    detail = _ground_detail(here - enlarge(small_frame, small_size, full_size, *region), untouched)
    colour[region] = np.clip(
        here * (1.0 - redrawn_weight - relit_weight) + background * redrawn_weight + (background + detail) * relit_weight,
        0.0,
        1.0,
    )
