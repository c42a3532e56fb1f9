"""Forward-backward matte fusion (MaGGIe supplementary 7.9, eq. 12-14), streamed with bounded look-ahead.

With a binary change map ``delta(t)`` (where the matte may change between frames ``t - 1`` and ``t``):

    A_f(t) = delta(t) A(t) + (1 - delta(t)) A_f(t - 1)                   (12)
    A_b(t) = delta(t + 1) A(t) + (1 - delta(t + 1)) A_b(t + 1)           (13)
    A_temp = A where A_f != A_b, else A_f                                  (14)

Where nothing changes, the forward pass holds the matte from the last change and the backward pass the
matte from just before the next one; when the two agree the held value replaces the per-frame one, which
removes flicker in still regions without dragging errors forward (a disagreement falls back to the frame's
own matte). Mattes are continuous here, so "agree" is ``|A_f - A_b| <= tolerance`` (0 gives the paper's
exact rule).

The backward pass needs future frames; :class:`ForwardBackwardFusion` looks ``lookahead`` frames ahead
(the backward recursion starts afresh at the end of each frame's window, ``A_b = A`` there). Every frame
gets the same window length, so there are no seams, and memory is ``lookahead + 1`` frames whatever the
clip's length.

The change map of the weight-free path comes from the frames themselves: :func:`frame_change_map`.

One departure from eq. 12 (:attr:`FusionConfig.release`): a held value below a half is let go where the frame's
own matte is 0 and nowhere near (:func:`release_faint`), so that the fading tail a moving edge leaves on still
ground is not held there as long as the ground stays still.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from vmat.geometry import bounding_box
from vmat.temporal.colour import alpha_of


def _hold(alpha: np.ndarray, change: np.ndarray, held: np.ndarray) -> np.ndarray:
    """``alpha`` where ``change`` is set, else ``held``; a float ``change`` in [0, 1] blends the two (the soft
    form that training uses, :mod:`vmat.temporal.soft_fusion`)."""
    if change.dtype == bool:
        return np.where(change, alpha, held)
    return (change * alpha + (1 - change) * held).astype(np.float32)


def forward_fusion(alpha: np.ndarray, change: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Eq. 12: ``alpha`` ``(..., H, W)`` where ``change`` ``(H, W)`` is set, else the previous forward value."""
    return _hold(alpha, change, previous)


def _forward_matte(alpha: np.ndarray, change: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Eq. 12 on an ``(H, W)`` alpha or a premultiplied ``(4, H, W)`` matte (:mod:`vmat.temporal.colour`). A
    matte's colour is 0 wherever its alpha is, so its colour is worked out only in the box where either alpha
    is above 0 (the whole frame, four channels a person, cost more than the rest of the stage)."""
    if alpha.ndim == 2:
        return forward_fusion(alpha, change, previous)
    out = np.zeros(alpha.shape, np.float32)
    out[0] = forward_fusion(alpha[0], change, previous[0])
    covered = (alpha[0] > 0) | (previous[0] > 0)
    if covered.any():
        box = bounding_box(covered)
        colour = (slice(1, None), *box)
        out[colour] = forward_fusion(alpha[colour], change[box], previous[colour])
    return out


def release_faint(held: np.ndarray, alpha: np.ndarray, reach: int) -> np.ndarray:
    """Eq. 12's ``held`` state (``(H, W)``, or ``(4, H, W)`` premultiplied) with its faint values (alpha below a
    half) set to 0 where the frame's own matte ``alpha`` (same shape) is 0 farther than ``reach`` pixels from
    both its own coverage and the held matte's solid part; ``held`` itself, changed in place, where any is.

    A moving edge's last values before it left a pixel are a fading tail (alpha 0.02-0.3). The ground there
    stays still once the person is gone, so eq. 12 alone would hold that tail for as long as the ground does:
    a faint ghost of everywhere the person went. Where the frame's matte is 0 and nowhere near, the decomposer
    is sure no one is there. A held solid part (a still limb the frame's mask dropped) and the soft edge
    beside it are what holding is for, and stay."""
    held_alpha, own = alpha_of(held), alpha_of(alpha)
    faint = (held_alpha > 0) & (held_alpha < 0.5) & (own <= 0)
    if not faint.any():
        return held
    box = bounding_box(faint, reach)
    anchored = (own[box] > 0) | (held_alpha[box] >= 0.5)
    if reach > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)
        anchored = cv2.dilate(anchored.view(np.uint8), kernel) > 0
    drop = faint[box] & ~anchored
    if drop.any():
        region = held[(..., *box)]
        region[..., drop] = 0.0
    return held


def backward_fusion(alpha: np.ndarray, change_next: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Eq. 13: ``alpha`` ``(..., H, W)`` where the next frame's change map is set, else the following backward value."""
    return _hold(alpha, change_next, following)


def fuse(alpha: np.ndarray, forward: np.ndarray, backward: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """Eq. 14: the forward value where the forward and backward values agree, else the frame's own.

    On premultiplied ``(4, H, W)`` mattes (:mod:`vmat.temporal.colour`) the alphas alone decide and the colour
    follows its alpha's choice. Where every pixel agrees the result is ``forward`` itself, not a copy."""
    difference = np.abs(forward[0] - backward[0]) if forward.ndim == 3 else np.abs(forward - backward)
    agree = difference <= tolerance
    if agree.all():
        return forward
    if agree.ndim != 2:
        return np.where(agree, forward, alpha)
    # Only the box where they disagree changes (a copy costs a third of a whole frame's np.where).
    box = bounding_box(~agree)
    fused = forward.copy()
    fused[..., box[0], box[1]] = np.where(agree[box], forward[..., box[0], box[1]], alpha[..., box[0], box[1]])
    return fused


class Pushed(NamedTuple):
    """A frame in a fusion's look-ahead window: its ``mattes`` ``{id: (H, W) or (4, H, W)}``, its ``change``
    map ``(H, W)`` and, per id, the box where the matte's alpha is above 0 (``None``: nowhere)."""

    mattes: dict[int, np.ndarray]
    change: np.ndarray
    boxes: dict[int, tuple[slice, slice] | None]


def pushed(mattes: dict[int, np.ndarray], change: np.ndarray) -> Pushed:
    """A frame for a fusion's window, its mattes' boxes found once (each frame serves ``lookahead + 1`` windows).

    Mattes are float32 with alpha in [0, 1] (the pipeline's and the refiner's): a box holds where alpha is
    above 0, and :func:`backward_matte` returns float32."""
    boxes = {}
    for instance, matte in mattes.items():
        covered = (matte[0] if matte.ndim == 3 else matte) > 0
        boxes[instance] = bounding_box(covered) if covered.any() else None
    return Pushed(mattes, change, boxes)


def backward_matte(window: Sequence[Pushed], instance: int, like: np.ndarray) -> np.ndarray:
    """Eq. 13 for one id at the window's first frame, the recursion starting afresh at its last frame
    (``A_b = A`` there); a frame without the id has matte 0; ``like``: a matte of the id, for its shape.

    Worked out in the box around every window frame's matte alone: outside it every matte is 0, and so is
    ``A_b`` whatever changes (over whole frames, four channels a person, it cost more than the rest of the
    stage)."""
    boxes = [box for box in (frame.boxes.get(instance) for frame in window) if box is not None]
    out = np.zeros(like.shape, np.float32)
    if not boxes:
        return out
    rows = slice(min(box[0].start for box in boxes), max(box[0].stop for box in boxes))
    cols = slice(min(box[1].start for box in boxes), max(box[1].stop for box in boxes))
    region = (..., rows, cols)

    def part(frame: Pushed) -> np.ndarray:
        matte = frame.mattes.get(instance)
        return out[region] if matte is None else matte[region]  # ``out`` is still 0 while this is read

    backward = part(window[-1])
    for later in range(len(window) - 2, -1, -1):
        backward = backward_fusion(part(window[later]), window[later + 1].change[rows, cols], backward)
    out[region] = backward
    return out


def frame_change_map(previous: np.ndarray, current: np.ndarray, threshold: float = 12.0, grow: int = 4) -> np.ndarray:
    """``(H, W)`` bool: where two consecutive ``(H, W, 3)`` uint8 frames differ by more than ``threshold``
    grey levels in any channel, grown by ``grow`` pixels (a matte's edge moves with what moves near it).

    A panning camera changes nearly everything, and then fusion leaves the mattes as they are.
    """
    # OpenCV's per-channel maximum: numpy's max over the channel axis took 34 ms at 720p, this 1.5 ms.
    channels = cv2.split(cv2.absdiff(previous, current))
    difference = cv2.max(cv2.max(channels[0], channels[1]), channels[2]) > threshold
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        difference = cv2.dilate(difference.view(np.uint8), kernel) > 0
    return difference


def soften_change(change: np.ndarray, sigma: float) -> np.ndarray:
    """``(H, W)`` float32 change weights: 1 wherever the bool ``change`` is set, falling off outside it like a
    Gaussian of ``sigma`` pixels. A pixel held while its neighbour is refreshed leaves a seam of stale values
    (speckle along slowly moving edges); near a change the soft weight blends the held matte with the new one."""
    weight = change.astype(np.float32)
    if sigma <= 0:
        return weight
    return np.maximum(weight, cv2.GaussianBlur(weight, (0, 0), sigma))


@dataclass(frozen=True)
class FusionConfig:
    """Settings of :class:`ForwardBackwardFusion` and its frame-difference change maps."""

    lookahead: int = 8
    tolerance: float = 0.02
    change_threshold: float = 12.0
    change_grow: int = 4
    forget_after: int = 48
    """Frames an id may be missing before its held matte (eq. 12) is dropped: memory stays bounded however
    many people pass through a long clip, and someone back after longer starts afresh."""
    release: int | None = 2
    """Pixels: the held matte's faint values are let go where the frame's own matte is 0 farther than this
    from it and from the held solid part (:func:`release_faint`: a moving edge's fading tail is not held on
    the still ground it left). ``None``: eq. 12 as written."""


class ForwardBackwardFusion:
    """Eq. 12-14 per instance over a stream of frames, ``lookahead`` frames behind the input.

    :meth:`push` takes frame ``t``'s mattes as ``{instance id: (H, W)}``, or ``(4, H, W)`` with the premultiplied
    colour carried along (:mod:`vmat.temporal.colour`; an id missing from a frame has matte 0 there), and its
    change map ``delta(t)`` ``(H, W)`` (ignored for the first frame), and returns the fused mattes of frame
    ``t - lookahead`` (for the ids that frame holds) once they are ready, else ``None``; :meth:`flush` returns
    the remaining frames' in order.
    """

    def __init__(self, config: FusionConfig = FusionConfig()) -> None:
        if config.lookahead < 0:
            raise ValueError(f"lookahead must be 0 or more, not {config.lookahead}")
        if config.release is not None and config.release < 0:
            raise ValueError(f"release must be 0 or more pixels (or None), not {config.release}")
        self.config = config
        self._window: deque[Pushed] = deque()
        self._forward: dict[int, np.ndarray] = {}  # A_f of the last frame emitted, per id
        self._missing: dict[int, int] = {}  # frames emitted since each held id was last in a frame
        self._zero: np.ndarray | None = None

    def push(self, alphas: dict[int, np.ndarray], change: np.ndarray) -> dict[int, np.ndarray] | None:
        self._window.append(pushed(alphas, change))
        if len(self._window) <= self.config.lookahead:
            return None
        return self._emit()

    def flush(self) -> list[dict[int, np.ndarray]]:
        fused = []
        while self._window:
            fused.append(self._emit())
        return fused

    def _zeros(self, like: np.ndarray) -> np.ndarray:
        """A matte of zeros shaped as ``like``, made once per shape (never written to)."""
        if self._zero is None or self._zero.shape != like.shape:
            self._zero = np.zeros(like.shape, np.float32)
        return self._zero

    def _emit(self) -> dict[int, np.ndarray]:
        alphas, change, _ = self._window[0]
        for instance in set(self._forward) | set(alphas):
            self._missing[instance] = 0 if instance in alphas else self._missing.get(instance, 0) + 1
            if self._missing[instance] > self.config.forget_after:
                del self._forward[instance], self._missing[instance]
                continue
            previous = self._forward.get(instance)
            if previous is None:
                self._forward[instance] = alphas[instance]
                continue
            own = alphas.get(instance, self._zeros(previous))
            held = _forward_matte(own, change, previous)
            if self.config.release is not None:
                held = release_faint(held, own, self.config.release)
            self._forward[instance] = held
        fused = {}
        for instance, alpha in alphas.items():
            backward = backward_matte(self._window, instance, alpha)
            fused[instance] = fuse(alpha, self._forward[instance], backward, self.config.tolerance)
        self._window.popleft()
        return fused
