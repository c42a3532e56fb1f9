"""Steadier soft edges on moving people: blend each matte's band toward the previous output carried by the flow.

Fusion (:mod:`vmat.temporal.fusion`) holds a matte only where the camera-aligned picture did not change, so a
person who moves keeps the decomposer's per-frame matte all along their outline, and a closed-form matte
follows every wobble of the propagated mask there. Here the previous frame's output matte is carried onto
the current frame by the source frames' optical flow (OpenCV DIS, ultrafast preset, at most
:data:`FLOW_SIDE` pixels on the longer side) and mixed into the current matte:

    out_t = a_t + w (warp(out_{t-1}) - a_t),   w = weight * exp(-(d / colour_sigma)^2) on the band, else 0

where ``d`` is the largest channel difference between frame t and frame t-1 warped by the same flow (both
smoothed by :data:`SMOOTHING` px) and the band is where either matte is soft (0 < alpha < 1), grown by
``band_grow`` pixels: the solid inside and the empty outside are the decomposer's and stay as they are.
Where the flow is wrong (occlusions, thin fast limbs) the pictures disagree and the current matte is kept,
so edges do not lag. The colour check is per channel, not on grey: a brown leg over green grass has
nearly the grass's grey, and a grey check let the flow's errors on walking legs through (synthetic suite:
1.9% more SAD for the same drop in flicker, against 1.2% with the channel check; docs/results/matting.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vmat.errors import ConfigError
from vmat.geometry import bounding_box
from vmat.propagation.flow import sampling_maps
from vmat.temporal.colour import alpha_of

# The flow is estimated with the longer side at most this many pixels (DIS ultrafast costs about 3 ms at
# 640x360 on one core) and scaled up for larger frames.
FLOW_SIDE = 640
MIN_FLOW_SIDE = 12  # DIS refuses frames whose sides are both shorter; such a frame is taken as still
SOFT = 1.0 / 255.0  # alpha counts as soft strictly between SOFT and 1 - SOFT
# Both frames are smoothed by this Gaussian (pixels) before the colour check, so image noise and the warp's
# resampling do not read as disagreement.
SMOOTHING = 1.0


@dataclass(frozen=True)
class FlowBlendConfig:
    """``weight``: the share of the carried matte where the pictures agree (0: off); ``colour_sigma``: levels
    (of 255) of picture difference at which that share falls to 1/e; ``band_grow``: pixels the soft band grows."""

    weight: float = 0.5
    colour_sigma: float = 14.0
    band_grow: int = 1

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight < 1.0:
            raise ConfigError(f"the flow blend's weight must be in [0, 1), not {self.weight}.")
        if self.colour_sigma <= 0 or self.band_grow < 0:
            raise ConfigError("the flow blend's colour sigma must be positive and its band growth 0 or more pixels.")


def flow_estimator() -> cv2.DISOpticalFlow:
    """The DIS estimator :func:`backward_flow` takes (ultrafast preset). One serves every frame: given no
    initial flow, its result depends only on the two frames."""
    return cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)


def backward_flow(grey: np.ndarray, grey_previous: np.ndarray, dis: cv2.DISOpticalFlow) -> np.ndarray:
    """``(H, W, 2)`` float32 flow from frame t back to t-1 of two ``(H, W)`` uint8 grey frames (by ``dis``, from
    :func:`flow_estimator`, with the longer side at most :data:`FLOW_SIDE`; zero for frames too small for DIS)."""
    height, width = grey.shape
    if max(height, width) < MIN_FLOW_SIDE:
        return np.zeros((height, width, 2), np.float32)
    scale = min(1.0, FLOW_SIDE / max(height, width))
    small = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale < 1.0:
        grey, grey_previous = (cv2.resize(g, small, interpolation=cv2.INTER_AREA) for g in (grey, grey_previous))
    # OpenCV's stubs type the output flow as required; OpenCV itself allocates it when given None.
    flow = dis.calc(grey, grey_previous, None)  # type: ignore[call-overload]
    if scale < 1.0:
        flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR) / scale
    return flow


def _soft(alpha: np.ndarray) -> np.ndarray:
    return (alpha > SOFT) & (alpha < 1.0 - SOFT)


class FlowBlend:
    """``push(image (H, W, 3) uint8, {id: (H, W) float32 alpha})`` -> the blended mattes, frame by frame in
    order. A ``(4, H, W)`` matte (alpha, then the premultiplied colour: :mod:`vmat.temporal.colour`) has its
    colour blended with the same weights as its alpha, in place (the caller's array becomes the output). A
    person absent from the previous frame (or a new frame size) starts from their own matte. Holds one smoothed
    frame and one matte per person."""

    def __init__(self, config: FlowBlendConfig = FlowBlendConfig()) -> None:
        self.config = config
        self._smoothed: np.ndarray | None = None  # the previous frame smoothed by SMOOTHING
        self._previous: dict[int, np.ndarray] = {}
        grow = 2 * config.band_grow + 1
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
        # Made once, not per frame. The blend lives in a stage built where it runs (stage factories cross
        # processes, stages do not), so this unpicklable object never has to travel.
        self._dis = flow_estimator()

    def push(self, image: np.ndarray, alphas: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        smoothed = cv2.GaussianBlur(image, (0, 0), SMOOTHING)
        previous, smoothed_previous = self._previous, self._smoothed
        self._smoothed = smoothed
        if smoothed_previous is None or smoothed_previous.shape != smoothed.shape or not set(alphas) & set(previous):
            self._previous = dict(alphas)
            return alphas
        grey, grey_previous = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (smoothed, smoothed_previous))
        flow = backward_flow(grey, grey_previous, self._dis)
        map_x, map_y = sampling_maps(flow)

        def warp(data: np.ndarray) -> np.ndarray:
            return cv2.remap(data, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

        channels = cv2.split(cv2.absdiff(smoothed, warp(smoothed_previous)))
        difference = cv2.max(cv2.max(channels[0], channels[1]), channels[2]).astype(np.float32)
        agree = self.config.weight * np.exp(-((difference / self.config.colour_sigma) ** 2))
        out = {}
        for instance, matte in alphas.items():
            if instance not in previous:
                out[instance] = matte
                continue
            alpha, held = alpha_of(matte), warp(alpha_of(previous[instance]))
            band = cv2.dilate((_soft(alpha) | _soft(held)).view(np.uint8), self._kernel) > 0
            weight = np.where(band, agree, 0.0).astype(np.float32)
            blended = (alpha + weight * (held - alpha)).astype(alpha.dtype, copy=False)
            if matte.ndim == 2:
                out[instance] = blended
                continue
            matte[0] = blended  # in place (see the class): a copy of four channels a person cost 1 ms at 640x360
            out[instance] = matte
            if band.any():
                # The colour moves only in the band, so only the band's box is warped (a whole frame per channel
                # cost more than the rest of the temporal stage).
                box = bounding_box(band)
                colour = matte[(slice(1, None), *box)]
                for channel, carried in zip(colour, previous[instance][1:]):
                    moved = cv2.remap(carried, map_x[box], map_y[box], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    channel += weight[box] * (moved - channel)
        self._previous = out
        return out
