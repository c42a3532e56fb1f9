"""Video background completion: what was behind the people, without any learned weights.

MP-Mat removes a person from a single image and leaves whatever its background plane holds behind them
(its "w/ BI" variant calls an inpainting network). A video usually shows that background in other
frames, so each frame's background plane is completed in this order:

1. pixels where the background is seen in this frame stay as they are;
2. pixels hidden here are copied from the nearest frames (within ``window`` frames either side) where
   they were seen: directly for a static camera, through the chained frame-to-frame homography for a
   moving one (features tracked on the visible background only, RANSAC fit);
3. for a static camera, what the window did not reveal comes from a clean plate: the mean colour of
   each pixel over every frame of the clip where it was seen;
4. what no frame ever saw is inpainted spatially (``cv2.inpaint``, Telea).

It runs in two streaming passes over a re-iterable source (a :class:`~vmat.layers.LayersReader` or a
list): the first estimates camera motion and accumulates the plate, the second fills frames with a
sliding window. Memory is ``2 * window + 1`` 8-bit background images plus one plate, whatever the clip
length.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, NamedTuple

import cv2
import numpy as np
import torch

from vmat.layers.errors import LayerError
from vmat.layers.stack import LayerStack
from vmat.layers.store import LayersReader, LayersWriter


_TRACK_WINDOW = 15  # Lucas-Kanade window, pixels


@dataclass(frozen=True)
class CompletionConfig:
    """Settings for :func:`complete_background`."""

    camera: Literal["auto", "static", "moving"] = "auto"
    """``auto`` calls the camera static when the estimated motion moves no frame corner by more than
    ``static_tolerance`` pixels over the whole clip."""
    window: int = 10
    """Frames searched on each side of the frame being completed."""
    seen_above: float = 0.98
    """Background weight above which a background pixel counts as seen."""
    margin: int = 2
    """Pixels around people not trusted as seen: a matte's edge often holds a little of the person."""
    static_tolerance: float = 1.0
    inpaint_radius: int = 5
    max_features: int = 500


class Filled(IntEnum):
    """Where a completed background pixel came from."""

    SEEN = 0
    NEIGHBOUR = 1
    PLATE = 2
    INPAINTED = 3


class CompletedFrame(NamedTuple):
    """A frame's layers with the background plane completed, and ``source`` ``(H, W)`` uint8 :class:`Filled`
    codes saying where each background pixel came from."""

    stack: LayerStack
    source: np.ndarray


@dataclass
class _View:
    """What completion keeps of a frame: its 8-bit background and where that background is seen."""

    colour: np.ndarray  # (H, W, 3) uint8
    seen: np.ndarray  # (H, W) bool


def _view(stack: LayerStack, config: CompletionConfig) -> _View:
    colour = (stack.colour[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    seen = (stack.weights()[0] >= config.seen_above).numpy()
    if config.margin > 0:
        size = 2 * config.margin + 1
        seen = cv2.erode(seen.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    return _View(colour, seen)


def _estimate_motion(previous: _View, current: _View, config: CompletionConfig) -> np.ndarray:
    """3x3 homography from ``previous`` pixel coordinates to ``current``, from the seen background only."""
    identity = np.eye(3)
    before = cv2.cvtColor(previous.colour, cv2.COLOR_RGB2GRAY)
    after = cv2.cvtColor(current.colour, cv2.COLOR_RGB2GRAY)
    height, width = before.shape
    # Features whose tracking window reaches a person would be dragged by the person's motion.
    half_window = _TRACK_WINDOW // 2
    trusted = cv2.erode(previous.seen.astype(np.uint8), np.ones((_TRACK_WINDOW, _TRACK_WINDOW), np.uint8))
    points = cv2.goodFeaturesToTrack(
        before, config.max_features, 0.01, max(3, min(height, width) // 60), mask=trusted, blockSize=5
    )
    if points is None or len(points) < 8:
        return identity
    window = (_TRACK_WINDOW, _TRACK_WINDOW)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(before, after, points, None, winSize=window, maxLevel=3)
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(after, before, moved, None, winSize=window, maxLevel=3)
    # Forward-backward check: a point tracked there and back must return to where it started.
    ok = (status.ravel() == 1) & (status_back.ravel() == 1)
    ok &= np.linalg.norm((back - points)[:, 0], axis=1) < 0.5
    x, y = moved[:, 0, 0], moved[:, 0, 1]
    ok &= (x >= half_window) & (y >= half_window) & (x < width - half_window) & (y < height - half_window)
    ok[ok] &= current.seen[y[ok].round().astype(int), x[ok].round().astype(int)]
    if ok.sum() < 8:
        return identity
    homography, _ = cv2.findHomography(points[ok], moved[ok], cv2.RANSAC, 1.0)
    return identity if homography is None else homography


def _corner_shift(homography: np.ndarray, width: int, height: int) -> float:
    corners = np.array([[[0, 0]], [[width - 1, 0]], [[0, height - 1]], [[width - 1, height - 1]]], np.float64)
    return float(np.abs(cv2.perspectiveTransform(corners, homography) - corners).max())


def _relative_motion(motions: list[np.ndarray], source: int, target: int) -> np.ndarray:
    """Homography from frame ``source`` coordinates to frame ``target``; ``motions[k]`` maps k-1 to k."""
    chain = np.eye(3)
    for k in range(min(source, target) + 1, max(source, target) + 1):
        chain = motions[k] @ chain
    return chain if source < target else np.linalg.inv(chain)


@dataclass
class _Survey:
    num_frames: int
    motions: list[np.ndarray]
    static: bool
    plate: np.ndarray | None  # (H, W, 3) uint8, valid where plate_seen
    plate_seen: np.ndarray | None


def _survey(stacks: Iterable[LayerStack], config: CompletionConfig) -> _Survey:
    """First pass: camera motion between consecutive frames and the clean plate."""
    motions: list[np.ndarray] = []
    total = count = None
    previous = None
    drift = np.eye(3)
    largest_shift = 0.0
    for stack in stacks:
        view = _view(stack, config)
        if previous is None:
            motions.append(np.eye(3))
            total = np.zeros(view.colour.shape, np.float64)
            count = np.zeros(view.seen.shape, np.float64)
        else:
            motion = np.eye(3) if config.camera == "static" else _estimate_motion(previous, view, config)
            motions.append(motion)
            drift = motion @ drift
            largest_shift = max(largest_shift, _corner_shift(drift, view.seen.shape[1], view.seen.shape[0]))
        total[view.seen] += view.colour[view.seen]
        count[view.seen] += 1
        previous = view
    if previous is None:
        raise LayerError("There are no frames to complete the background of.")
    static = config.camera == "static" or (config.camera == "auto" and largest_shift <= config.static_tolerance)
    plate = plate_seen = None
    if static:
        plate_seen = count > 0
        plate = np.zeros(total.shape, np.uint8)
        plate[plate_seen] = np.round(total[plate_seen] / count[plate_seen, None]).astype(np.uint8)
    return _Survey(len(motions), motions, static, plate, plate_seen)


def _fill(
    index: int, stack: LayerStack, window: dict[int, _View], survey: _Survey, config: CompletionConfig
) -> CompletedFrame:
    view = window[index]
    height, width = view.seen.shape
    missing = ~view.seen
    filled = view.colour.copy()
    source = np.zeros((height, width), np.uint8)
    for other in sorted((k for k in window if k != index), key=lambda k: (abs(k - index), k)):
        if not missing.any():
            break
        donor = window[other]
        if survey.static:
            colour, seen = donor.colour, donor.seen
        else:
            motion = _relative_motion(survey.motions, other, index)
            colour = cv2.warpPerspective(donor.colour, motion, (width, height), flags=cv2.INTER_LINEAR)
            # A warped pixel is trusted only when every donor pixel it interpolates was seen.
            seen = cv2.warpPerspective(donor.seen.astype(np.uint8) * 255, motion, (width, height)) == 255
        take = missing & seen
        filled[take] = colour[take]
        source[take] = Filled.NEIGHBOUR
        missing &= ~take
    if survey.plate is not None and missing.any():
        take = missing & survey.plate_seen
        filled[take] = survey.plate[take]
        source[take] = Filled.PLATE
        missing &= ~take
    if missing.any():
        inpainted = cv2.inpaint(filled, missing.astype(np.uint8), config.inpaint_radius, cv2.INPAINT_TELEA)
        filled[missing] = inpainted[missing]
        source[missing] = Filled.INPAINTED
    replaced = torch.from_numpy(source != Filled.SEEN)
    colour = stack.colour.clone()
    new_background = torch.from_numpy(filled).permute(2, 0, 1).float() / 255.0
    colour[0] = torch.where(replaced, new_background, stack.colour[0])
    return CompletedFrame(stack.replace(colour=colour), source)


def complete_background(
    stacks: Iterable[LayerStack], config: CompletionConfig = CompletionConfig()
) -> Iterator[CompletedFrame]:
    """Complete every frame's background plane where people hid it (two streaming passes).

    Args:
        stacks: the clip's layers; iterated twice (and twice at once in the second pass), so it must be
            re-iterable, e.g. a :class:`~vmat.layers.LayersReader` or a list, not a generator.
        config: completion settings.

    Yields:
        One :class:`CompletedFrame` per frame, in order.
    """
    if iter(stacks) is stacks:
        raise LayerError("Background completion reads the layers twice: pass a LayersReader or a list.")
    if config.window < 0:
        raise LayerError(f"The completion window must be 0 or more frames, got {config.window}.")
    survey = _survey(stacks, config)
    ahead = enumerate(iter(stacks))
    window: dict[int, _View] = {}
    order: deque[int] = deque()
    for index, stack in enumerate(stacks):
        while not order or order[-1] < min(index + config.window, survey.num_frames - 1):
            k, upcoming = next(ahead)
            window[k] = _view(upcoming, config)
            order.append(k)
        while order[0] < index - config.window:
            del window[order.popleft()]
        yield _fill(index, stack, window, survey, config)


def complete_layers_file(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    config: CompletionConfig = CompletionConfig(),
) -> dict[str, int]:
    """Complete the background of a layers file into a new layers file.

    Returns:
        How many background pixels, over the clip, were seen, taken from neighbours, from the plate,
        and inpainted (keys: the lower-case :class:`Filled` names).
    """
    reader = LayersReader(source)
    counts = dict.fromkeys((f.name.lower() for f in Filled), 0)
    with LayersWriter(destination, frame_rate=reader.info.frame_rate, metadata=reader.info.metadata) as writer:
        for index, frame in enumerate(complete_background(reader, config)):
            writer.write(frame.stack, reader.info.times[index])
            for code in Filled:
                counts[code.name.lower()] += int((frame.source == code).sum())
    return counts
