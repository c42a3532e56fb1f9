"""Video background completion: what was behind the people, without any learned weights.

MP-Mat removes a person from a single image and leaves whatever its background plane holds behind them
(its "w/ BI" variant calls an inpainting network). A video usually shows that background in other
frames, so each frame's background plane is completed in this order:

1. pixels where the background is seen in this frame stay as they are;
2. pixels hidden here are copied from the nearest frames (within ``window`` frames either side) where
   they were seen: directly for a static camera, through the chained frame-to-frame homography for a
   moving one (features tracked on the visible background only, RANSAC fit);
3. what the window did not reveal comes from a clean plate: the mean colour of each background point
   over every frame of the clip that saw it (for a moving camera, a mosaic in frame 0's coordinates
   through the chained homographies, at most 3 frame sizes on each axis);
4. what no frame ever saw is invented once, on the plate, by exemplar inpainting (PatchMatch,
   :mod:`vmat.editing.inpaint`: texture copied from the plate's seen parts), and carried to every frame
   with the camera motion, so it moves with the scene instead of boiling or sticking to the screen; in
   each frame it is blended in the gradient domain (a Poisson membrane), so exposure changes and
   vignetting leave no edge. ``never_seen="diffusion"`` inpaints each frame by ``cv2.inpaint`` (Telea)
   instead: faster, but a smear.

Copied pixels (steps 2 and 3) are corrected by a per-channel gain measured where the donor and this frame
both see the background around the hole, so auto-exposure does not leave a brighter or darker patch.

The people about to be removed (or moved) can be named (``removing``): the shadow attached to each of
them (:mod:`vmat.editing.shadows`) is lifted from the background plane of every frame before other frames
copy from it (``keep_shadows`` leaves it); a lift only approximates the lit ground, so a frame's lifted
pixels are then completed from the frames of the window that saw that ground lit, like hidden ones, and
keep the lift where none did. The first passes note the ground as frames saw it with those
people away from it: only ground seen lit then is taken for shadow (so dark ground is never lifted, nor
the shadow of someone who never moves). The clean plate is the unlifted mean, in which a moving shadow is
diluted; where it (or a static camera's agreeing frames) lends a frame ground under the removed people,
their shadows are looked for again once the frame is filled. The parts of those people that their matte
missed (:mod:`vmat.editing.leftovers`, ``CompletionConfig.leftovers``) are found in the last pass against
the ground summed with them away (a static camera's in the first pass, a moving camera's on its canvas in
the second), and completed as if hidden; the plate takes that ground's colour where it had summed them.

It runs in streaming passes over a re-iterable source (a :class:`~vmat.layers.LayersReader` or a list):
camera motion (and the plate, when the camera turns out static), then the plate of a moving camera (or a
static camera's agreement count), then the frames with a sliding window. Each frame's work is confined to
the box around what people hide. Memory is ``2 * window + 1`` 8-bit background images plus the plate (and, for a
static camera, the agreement's frame-sized sums; the leftovers' sums, frame- or canvas-sized), whatever the clip length.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any, Literal, NamedTuple

import cv2
import numpy as np
import torch

from vmat.camera import CameraTracker, TrackerConfig, corner_shift, estimate_motion, frame_corners
from vmat.editing.blending import add_inside, apply_gain, gain_between, gain_of, gain_of_samples, held, membrane, seam_difference
from vmat.editing.fill_memory import FillMemory
from vmat.editing.inpaint import InpaintConfig, inpaint
from vmat.editing.leftovers import ClipLeftovers, LeftoverConfig, People, near
from vmat.editing.shadows import ShadowConfig, lift_shadows, near_people
from vmat.editing.warping import accumulate_in, onto_canvas, shifted, warp, warp_masks
from vmat.errors import ConfigError
from vmat.filters import normalised_convolution
from vmat.geometry import bounding_box
from vmat.layers.compositing import image_to_tensor, tensor_to_image
from vmat.layers.errors import LayerError
from vmat.layers.stack import LayerStack
from vmat.layers.store import LayersReader, LayersWriter


_MAX_CANVAS = 3  # the clean plate of a moving camera spans at most this many frame widths and heights
_GAIN_RING = 12  # pixels around the hole where a donor's gain is measured
_GAIN_SAMPLES = 4096  # ring pixels a gain is the median of
# The seam blend refines the membrane at full size only this close to the hole's border (the coarse
# solution holds inside): a third of the cost for a person-sized hole.
_SEAM_BAND = 8
# The seam blend carries the colour difference around the hole smoothed at this scale (pixels): finer
# differences are texture the plate and the frame place a pixel or two apart, or a matte's edge, not
# exposure (:func:`~vmat.editing.blending.seam_difference`).
_SEAM_SCALE = 4.0
# 8-bit levels within which a pixel's seam difference keeps the last frame's, carried with the camera.
_SEAM_HOLD = 2.0
_RING_AGREE = 12  # 8-bit levels the middle half of the frames offering a ring pixel may span
# A donor's local mean colour (Gaussian, this many px: a box filter's mean of stripes moves with their phase
# by about as much as the tolerance) must lie within _DONOR_AGREE 8-bit levels of the median of the donors'
# for its own colour to be taken (CompletionConfig.donors "agreeing"): a pixel or two of misregistered
# texture moves a local mean by less, a person's part left outside their mask by more.
_DONOR_BLUR = 3.0
_DONOR_REACH = math.ceil(4 * _DONOR_BLUR)  # how far OpenCV's Gaussian of a float image reaches
_DONOR_AGREE = 24
# A donor whose local mean is below this share of a lifted shadow's there is taken to be in the shadow still:
# the scooter's deep shadow (DAVIS scooter-gray) keeps under it; darker paving that a lift took for shadow
# (the traffic island there) does not, and is copied from its donors (at 0.8, the lift's own threshold, it
# was refused and its lift stayed, in lighter blotches).
_LIT_DONOR = 0.6
# A moving camera's donor is lined up on the ring by a translation of at most this many pixels (the chained
# homographies are off by a pixel or so; a larger shift has matched something else), measured on at
# least _ALIGN_PIXELS ring pixels both frames see.
_ALIGN_SHIFT = 2.0
_ALIGN_PIXELS = 256
# The best whole-pixel shift's normalised cross-correlation below which the ring has no texture to line up
# on (a flat ring's noise peaks at 0.03-0.07 and still moved 3 or 4 donors in 10; textured rings peak at
# 0.6-1.0 under 16 levels of noise, one with texture as faint as 16 levels under 4 of noise at 0.33-0.44).
_ALIGN_TEXTURE = 0.3
_ALIGN_STEPS = 10  # Gauss-Newton iterations; one that has not settled by then keeps the whole-pixel peak
# A static camera's frames are trusted about ground its layers hide only this close (pixels) to ground some
# frame sees: a mask drawn past a person's outline, not the inside of a person.
_AGREE_REACH = 8
_EMPTY = (slice(0, 0), slice(0, 0))


@dataclass(frozen=True)
class CompletionConfig:
    """Settings for :func:`complete_background`."""

    camera: Literal["auto", "static", "moving"] = "auto"
    """``auto`` calls the camera static when the estimated motion moves no frame corner by more than
    ``static_tolerance`` pixels over the whole clip; a static camera needs no resampling."""
    window: int = 10
    """Frames searched on each side of the frame being completed."""
    lookahead: int = 30
    """Frames a one-pass stream (:class:`~vmat.editing.completion_stream.CompletionStream`) reads past a
    frame before completing it: they join its clean plate, so ground they show is copied rather than
    invented (the whole-clip form sees every frame)."""
    donors: Literal["agreeing", "median", "nearest"] = "agreeing"
    """``agreeing``: on a moving camera a hidden pixel takes the colour of the nearest frame in the window that
    saw it whose local mean colour agrees with the median of theirs (else that median): one frame's texture,
    and not the edge of a person whose mask fell short there, which moves with them and so disagrees with
    most frames; on a static camera, whose frames line up exactly, the median (the same scores on still
    clips, for 30 ms less a 720p frame). ``median``: the median of every frame in the window that saw it, per
    pixel: on a moving camera, donors parallax leaves a pixel or two apart blend, and fine texture (a sheet's
    stripes) is wiped out; ``nearest``: the nearest such frame's colour, edges of people included."""
    seen_above: float = 0.98
    """Background weight above which a background pixel counts as seen."""
    partly_seen_above: float | None = 0.98
    """Hidden pixels that some frame of the window shows with at least this background weight, though
    only ever within ``margin`` of a person (a person who hardly moves keeps that ring hidden in every
    frame), take the median of those frames' colours, laid over the invention, instead of an invented
    colour (a matte's soft edge, below it, may hold some of the person). ``None``: invent them."""
    agree_frames: int | None = 3
    """A static camera only. Ground that the layers hide in every frame may still show in the frames
    themselves (a mask drawn wider than the person). Within ``_AGREE_REACH`` px of ground some frame sees,
    a pixel takes the colour the clip's frames show there when the people are farthest from it (the frame
    where it lies least deep in the hidden region, and every frame agreeing with that one) instead of an
    invented colour, when at least this many frames agree, at least as many show something else (something
    moved over it: a still person's pixel shows the same in every frame and is never taken), those others
    have it deeper in the hidden region on average, and the colour lies within the colours of the seen
    ground around it. ``None``: invent it."""
    leftovers: LeftoverConfig | None = field(default_factory=LeftoverConfig)
    """Parts of a person being removed that their matte missed (a shoe's toe,
    fingertips: :mod:`vmat.editing.leftovers`), found against the ground the clip shows with them away,
    are completed as if hidden (and never copied to another frame), and the clean plate, which summed
    them from the frames where they lay outside the matte, takes that ground's colour where the frames
    that saw a pixel with the people near disagree with it. ``None``: leave them."""
    margin: int = 2
    """Pixels around people not trusted as seen: a matte's edge often holds a little of the person."""
    trail: int | None = 4
    """A still camera's ground that a person being removed covered in the frame before, farther than this
    many pixels from them now, is not trusted as seen (:class:`_Trail`): a fast limb's motion blur trails
    behind it past its matte, and other frames were lent it as ground (the juggler's white shoe came back as
    a grey streak on the grass). Nearer, the matte's edge moves with a slow body and its ground is right.
    ``None``: trusted."""
    static_tolerance: float = 1.0
    tracking: Literal["tracker", "pairs"] = "tracker"
    """How the whole clip's camera motion is estimated: ``tracker``, a :class:`~vmat.camera.CameraTracker`
    as in the one-pass stream (features carried from frame to frame, and a camera whose features did not
    move is exactly still); ``pairs``, each pair of frames from scratch (:func:`~vmat.camera.estimate_motion`,
    the previous completion's: its chained noise drifted a tripod shot 3.5 px in 24 frames, which then
    counted as moving, and a pan's donors lined up worse: 0.9 dB of the copied pixels on the bedroom pan).
    The one-pass stream always tracks."""
    never_seen: Literal["exemplar", "diffusion"] = "exemplar"
    """``exemplar``: what no frame saw is inpainted once on the plate by PatchMatch and carried with the
    camera; ``diffusion``: ``cv2.inpaint`` (Telea) on every frame (fast; a smear)."""
    refill: float | None = 0.1
    """A one-pass stream with a static camera only: a never-seen region's fill, invented on the plate
    of the frames pushed by then, is invented again (on the plate now) once frames pushed since have
    seen this fraction of it: the invention next to the ground they showed (a kerb that runs on under a
    foot) no longer matches it. ``None``: keep the first fill (only what is seen replaces it)."""
    gain: bool = True
    """Correct each copied donor's colour by its per-channel gain against this frame."""
    align: bool = True
    """Line each donor of a moving camera up with this frame on the ring around the hole (a translation of
    at most 2 px on top of the chained homographies)."""
    blend: bool = True
    """Blend the never-seen fill into each frame in the gradient domain (Poisson)."""
    inpaint_radius: int = 5
    max_features: int = 500
    inpainting: InpaintConfig = field(default_factory=InpaintConfig)
    shadows: ShadowConfig = field(default_factory=ShadowConfig)

    def __post_init__(self) -> None:
        choices = {
            "camera": ("auto", "static", "moving"),
            "donors": ("agreeing", "median", "nearest"),
            "tracking": ("tracker", "pairs"),
            "never_seen": ("exemplar", "diffusion"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"completion {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}.")
        if self.refill is not None and not 0.0 < self.refill <= 1.0:
            raise ConfigError(f"completion refill must be above 0 and at most 1 (or None), got {self.refill}.")
        if self.agree_frames is not None and self.agree_frames < 1:
            raise ConfigError(f"completion agree_frames must be 1 or more (or None), got {self.agree_frames}.")
        if self.trail is not None and self.trail < 0:
            raise ConfigError(f"completion trail must be 0 or more pixels (or None), got {self.trail}.")


PREVIOUS_DEFAULT = CompletionConfig(
    donors="nearest",
    never_seen="diffusion",
    gain=False,
    blend=False,
    partly_seen_above=None,
    agree_frames=None,
    leftovers=None,
    trail=None,
    tracking="pairs",
    align=False,
)
"""The completion vmat used before exemplar inpainting, gain correction and blending (for comparisons)."""


class Filled(IntEnum):
    """Where a completed background pixel came from."""

    SEEN = 0
    NEIGHBOUR = 1
    PLATE = 2
    INPAINTED = 3
    SHADOW = 4
    """Seen here in a removed person's shadow, lifted (no frame of the window saw it lit)."""
    AGREED = 5
    """Hidden in every frame, taken from the frames that show it alike (:attr:`CompletionConfig.agree_frames`)."""


class CompletedFrame(NamedTuple):
    """A frame's layers with the background plane completed, and ``source`` ``(H, W)`` uint8 :class:`Filled`
    codes saying where each background pixel came from."""

    stack: LayerStack
    source: np.ndarray


def changed_ground(
    stack: LayerStack, source: np.ndarray, leaving: Collection[int], config: CompletionConfig = CompletionConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Where completion changed the ground the camera saw in a frame it completed (``stack`` and its ``source``
    codes), as ``(redrawn, relit)`` ``(H, W)`` bool: drawn from elsewhere (the rim of a matte, ground a removed
    person's matte missed, hidden ground), and a lifted shadow kept (:attr:`Filled.SHADOW`). ``leaving``: the
    people the edit takes away. Completion also redraws the rim it does not trust around the people who stay,
    to build its plate; they still stand there, so that rim is left out (the frame's own pixels are right)."""
    relit = source == Filled.SHADOW
    redrawn = (source != Filled.SEEN) & ~relit
    staying = [stack.index_of(instance) for instance in stack.instance_ids if instance not in leaving]
    if staying:
        cover = (stack.alpha[staying].amax(0) > 1.0 - config.seen_above).cpu().numpy().astype(np.uint8)
        size = 2 * (config.margin + 1) + 1
        redrawn &= ~cv2.dilate(cover, np.ones((size, size), np.uint8)).astype(bool)
    return redrawn, relit


@dataclass
class _View:
    """What completion keeps of a frame: its 8-bit background and where that background is seen."""

    colour: np.ndarray  # (H, W, 3) uint8
    seen: np.ndarray  # (H, W) bool
    away: np.ndarray | None = None  # (H, W) bool: seen, and far from the people being removed
    mostly: np.ndarray | None = None  # (H, W) bool: background weight above partly_seen_above, any margin
    trail: np.ndarray | None = None  # (H, W) bool: taken out of seen by a removed person's trail (_Trail)


def _background_weight(stack: LayerStack) -> torch.Tensor:
    """``(H, W)``: the light that reaches the background, multiplied front to back as
    :func:`~vmat.layers.compositing.effective_weights` does, so it is the same number bit for bit."""
    transmittance = torch.ones_like(stack.alpha[0])
    for plane in stack.order()[:-1]:
        transmittance = transmittance * (1.0 - stack.alpha[plane])
    return transmittance


def _view(stack: LayerStack, config: CompletionConfig) -> _View:
    colour = tensor_to_image(stack.colour[0])
    light = _background_weight(stack)
    seen = (light >= config.seen_above).cpu().numpy()
    if config.margin > 0:
        size = 2 * config.margin + 1
        seen = cv2.erode(seen.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
    mostly = None if config.partly_seen_above is None else (light >= config.partly_seen_above).cpu().numpy()
    return _View(colour, seen, mostly=mostly)


def _trailed(view: _View, trail: np.ndarray | None) -> _View:
    """``view`` with ``trail`` (``(H, W)`` bool, or ``None``: nothing) not trusted as seen; the camera is
    still tracked on what it saw (:func:`_seen_for_tracking`)."""
    if trail is None or not (trail & view.seen).any():
        return view
    mostly = None if view.mostly is None else view.mostly & ~trail
    return _View(view.colour, view.seen & ~trail, view.away, mostly, trail & view.seen)


def _seen_for_tracking(view: _View) -> np.ndarray:
    """Where ``view`` shows the background to track the camera on: its trail too, so that the camera, and with
    it whether it is still, does not depend on the trail."""
    return view.seen if view.trail is None else view.seen | view.trail


class _Trail:
    """Called on a clip's frames in order: each frame's ground that the people ``removing`` covered (alpha over
    a half) in the frame before and lie farther than :attr:`CompletionConfig.trail` from now, ``(H, W)`` bool,
    or ``None`` where there is none. Only the frame before is known to a one-pass stream, so only the blur
    trailing a limb is caught, not the blur leading it (the shutter is open on both sides of a frame's
    instant). It holds for a still camera only: on the synthetic pans it cost the seen split 1.3 dB even with
    the frame before carried by the camera's motion (a pan shows each pixel to few frames, and jittered masks
    jump past the 4 px), 1.1 dB without."""

    def __init__(self, removing: Collection[int], config: CompletionConfig) -> None:
        self.removing, self.reach = tuple(removing), config.trail
        self.before: np.ndarray | None = None

    def __call__(self, stack: LayerStack) -> np.ndarray | None:
        if self.reach is None or not self.removing:
            return None
        planes = [stack.index_of(instance) for instance in self.removing if instance in stack.ids]
        body = (stack.alpha[planes].amax(0) > 0.5).cpu().numpy() if planes else None
        before, self.before = self.before, body
        if before is None or body is None:
            return before
        size = 2 * self.reach + 1
        return before & ~cv2.dilate(body.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)


@dataclass
class _Camera:
    """Camera motion over the clip, as a map from each frame into one shared canvas.

    The canvas is frame 0's pixel grid, shifted so that every frame fits (capped at ``_MAX_CANVAS`` frame
    sizes on each axis); for a static camera it is every frame's own grid.
    """

    static: bool
    to_canvas: Sequence[np.ndarray] | Mapping[int, np.ndarray]  # per frame: 3x3 homography, frame pixels -> canvas pixels
    canvas_size: tuple[int, int]  # width, height

    def motion(self, source: int, target: int) -> np.ndarray:
        """Homography from frame ``source`` pixels to frame ``target`` pixels."""
        return np.linalg.inv(self.to_canvas[target]) @ self.to_canvas[source]


class _PlateSum:
    """Running sums for the clean plate: each canvas pixel's colour total, how many frames saw it, and
    whether any frame covered it at all."""

    def __init__(self, width: int, height: int) -> None:
        self.total = np.zeros((height, width, 3), np.float32)
        self.count = np.zeros((height, width), np.float32)
        self.covered = np.zeros((height, width), bool)

    def add(self, colour: np.ndarray, seen: np.ndarray, covered: np.ndarray | bool = True) -> None:
        mask = seen.astype(np.uint8)
        cv2.accumulate(colour, self.total, mask)
        cv2.accumulate(mask, self.count, mask)
        self.covered |= covered

    def add_warped(self, colour: np.ndarray, seen: np.ndarray, to_canvas: np.ndarray) -> None:
        """Add a frame's ``colour`` where it is ``seen`` (frame pixels), carried onto the canvas by ``to_canvas``.

        Only the canvas box the frame lands on is warped and summed (a moving camera's canvas is up to nine
        frames): the sums are those of warping onto the whole canvas, as float32 additions of the same values.
        """
        height, width = self.count.shape
        landed = onto_canvas(colour, seen, to_canvas, (width, height))
        if landed is None:
            return
        mask = landed.seen.astype(np.uint8)
        accumulate_in(self.total, landed.box, landed.colour, mask)
        accumulate_in(self.count, landed.box, mask, mask)
        rows, cols = landed.box
        size = (cols.stop - cols.start, rows.stop - rows.start)
        self.covered[rows, cols] |= cv2.warpPerspective(np.ones(seen.shape, np.uint8), landed.homography, size) > 0

    def plate(self, box: tuple[slice, slice] | None = None) -> _Plate:
        """The plate; with ``box``, its colour only there (0 elsewhere), for a caller that reads no more."""
        seen = self.count > 0
        region = (slice(None), slice(None)) if box is None else box
        colour = np.zeros(self.total.shape, np.uint8)
        # Unseen pixels have a total of 0: dividing everything by at least 1 gives them 0 without a gather.
        colour[region] = np.round(self.total[region] / np.maximum(self.count[region], 1.0)[..., None]).astype(np.uint8)
        return _Plate(colour, seen, self.covered & ~seen)


@dataclass
class _Plate:
    """The clean plate in canvas pixels: its colour, where some frame saw it, and ``never_seen``: canvas
    that frames cover but none saw (people hid it all clip long). ``filled`` is the colour with that part
    inpainted, once ``never_seen="exemplar"`` asked for it."""

    colour: np.ndarray
    seen: np.ndarray
    never_seen: np.ndarray
    filled: np.ndarray | None = None

    def fill(self, config: CompletionConfig) -> None:
        self.filled = _invent(self.colour, self.never_seen, self.seen, config) if self.never_seen.any() else self.colour


def _invent(colour: np.ndarray, hole: np.ndarray, known: np.ndarray, config: CompletionConfig) -> np.ndarray:
    """``colour`` with ``hole`` inpainted from the ``known`` pixels (exemplars)."""
    try:
        return inpaint(colour, hole, known, config.inpainting)
    except LayerError:
        # Too little seen picture for whole patches (a tiny frame): diffusion is all that is left.
        return cv2.inpaint(colour, (~known).astype(np.uint8), config.inpaint_radius, cv2.INPAINT_TELEA)


def _track_camera(
    views: Iterable[_View], config: CompletionConfig, moved: Callable[[], None] | None = None
) -> tuple[_Camera, _PlateSum, _PlateSum | None]:
    """First pass: chain frame-to-frame homographies and decide whether the camera is static.

    It also sums the clean plate (and the ground seen away from the people being removed, when views
    say where that is) as if the camera were static, which saves a pass when it is. ``moved`` is called
    once, as soon as a frame shows that the camera moves (the rest of the pass need not sum for a static one).
    """
    from_first: list[np.ndarray] = []  # frame 0 pixels -> frame t pixels
    previous = None
    motion = np.eye(3)
    size = (0, 0)
    static_plate = away = None
    tracker = CameraTracker(TrackerConfig(max_features=config.max_features))
    for view in views:
        size = (view.seen.shape[1], view.seen.shape[0])
        static_plate = static_plate or _PlateSum(*size)
        static_plate.add(view.colour, view.seen)
        if view.away is not None:
            away = away or _PlateSum(*size)
            away.add(view.colour, view.away)
        if config.camera == "static":
            estimated = None
        elif config.tracking == "tracker":
            estimated = tracker.update(view.colour, _seen_for_tracking(view))
        elif previous is not None:
            seen = (_seen_for_tracking(previous), _seen_for_tracking(view))
            estimated = estimate_motion(previous.colour, view.colour, *seen, max_features=config.max_features)
        if previous is None:
            from_first.append(np.eye(3))
        else:
            # Where too little background shows to track, the camera is assumed to keep its last motion.
            motion = motion if estimated is None else estimated
            from_first.append(motion @ from_first[-1])
            if moved is not None and config.camera == "auto" and corner_shift(from_first[-1], *size) > config.static_tolerance:
                moved()
                moved = None
        previous = view
    if previous is None:
        raise LayerError("There are no frames to complete the background of.")
    width, height = size
    largest_shift = max(corner_shift(h, width, height) for h in from_first)
    if config.camera == "static" or (config.camera == "auto" and largest_shift <= config.static_tolerance):
        return _Camera(True, [np.eye(3)] * len(from_first), size), static_plate, away
    to_first = [np.linalg.inv(h) for h in from_first]
    corners = frame_corners(width, height)
    placed = np.concatenate([cv2.perspectiveTransform(corners, h) for h in to_first])[:, 0]
    low = np.maximum(placed.min(0), [-(_MAX_CANVAS - 1) / 2 * width, -(_MAX_CANVAS - 1) / 2 * height])
    high = np.minimum(placed.max(0), [(_MAX_CANVAS + 1) / 2 * width, (_MAX_CANVAS + 1) / 2 * height])
    shift = np.array([[1, 0, -np.floor(low[0])], [0, 1, -np.floor(low[1])], [0, 0, 1]], np.float64)
    canvas = (int(np.ceil(high[0]) - np.floor(low[0])) + 1, int(np.ceil(high[1]) - np.floor(low[1])) + 1)
    return _Camera(False, [shift @ h for h in to_first], canvas), static_plate, away


def _build_moving_plate(
    views: Iterable[_View], camera: _Camera, leftovers: ClipLeftovers | None = None
) -> tuple[_Plate, _Plate | None]:
    """Second pass (moving camera only): the clean plate, each canvas pixel's mean colour over the frames
    that saw it (put right where it summed ``leftovers``, whose ground the views sum on the way), and the
    same over the frames that saw it away from the people being removed."""
    sums = _PlateSum(*camera.canvas_size)
    away = None
    for index, view in enumerate(views):
        sums.add_warped(view.colour, view.seen, camera.to_canvas[index])
        if view.away is not None:
            away = away or _PlateSum(*camera.canvas_size)
            away.add_warped(view.colour, view.away, camera.to_canvas[index])
    plate = sums.plate()
    if leftovers is not None:
        leftovers.correct(plate.colour, sums.total, sums.count)
    return plate, None if away is None else away.plate()


def _ring_shift(colour: np.ndarray, seen: np.ndarray, target: np.ndarray, ring: np.ndarray) -> tuple[float, float] | None:
    """The translation ``(dx, dy)`` that best lines a warped donor's ``colour`` up with ``target`` ``(h, w)``
    float32 grey on the ``ring`` where the donor is ``seen`` (free of gain and offset: ``target(x)`` is
    ``colour(x + (dx, dy))``). Chained frame-to-frame homographies put a donor a pixel or so off along a
    pan, and a median of misaligned donors is blurred. ``None`` where too little of the ring is seen, the
    ring has no texture (the best whole-pixel shift's correlation is below ``_ALIGN_TEXTURE``), the estimate
    leaves that shift's pixel, or the shift is above ``_ALIGN_SHIFT`` or too small to matter; a refinement
    that does not settle (a step grows, or none is small within ``_ALIGN_STEPS``) gives that whole-pixel shift.

    Only ring pixels are compared, and only with donor pixels it sees: the best whole-pixel shift by
    normalised cross-correlation, then Gauss-Newton on gain, offset and the shift over the ring pixels whose
    bilinear samples and gradients lie on seen donor pixels. (OpenCV's masked ECC, used before, multiplies
    the images by the blurred mask, so a thin ring's edges pulled it up to 0.25-0.7 px off.)"""
    both = ring & seen
    if both.sum() < _ALIGN_PIXELS:
        return None
    reach = int(np.ceil(_ALIGN_SHIFT)) + 1  # one past the limit, so that a peak beyond it shows as one
    margin = reach + 2  # the refinement samples a pixel past the peak, and its gradient one more
    rows, cols = bounding_box(both, margin)
    grey = cv2.cvtColor(colour[rows, cols], cv2.COLOR_RGB2GRAY).astype(np.float32)
    fixed, donor_seen = target[rows, cols], seen[rows, cols].astype(np.uint8)

    def seen_around(radius: int) -> np.ndarray:
        # A warped donor's unseen pixels hold its own people, or nothing.
        return cv2.erode(donor_seen, np.ones((2 * radius + 1,) * 2, np.uint8)) > 0

    # Every whole-pixel shift is scored on the same ring pixels: those the donor sees as far as the search
    # reaches, and that the crop holds with its margin (padded only where the frame allows).
    ys, xs = np.nonzero(both[rows, cols] & seen_around(reach))
    inside = (ys >= margin) & (xs >= margin) & (ys < grey.shape[0] - margin) & (xs < grey.shape[1] - margin)
    ys, xs = ys[inside], xs[inside]
    if len(ys) < _ALIGN_PIXELS // 4:  # the donor sees too little beyond the ring pixels themselves
        return None
    width = grey.shape[1]
    flat = grey.ravel()
    at = ys * width + xs
    centred = fixed[ys, xs] - fixed[ys, xs].mean()

    shifts = [(dy, dx) for dy in range(-reach, reach + 1) for dx in range(-reach, reach + 1)]
    # Every shift's samples in one gather; centred has mean 0, so each sample's mean drops out of the product.
    samples = flat.take(at[None, :] + np.array([dy * width + dx for dy, dx in shifts])[:, None])
    spreads = np.einsum("sn,sn->s", samples, samples) - samples.sum(axis=1) ** 2 / len(at)
    scores = samples @ centred / (np.sqrt(centred @ centred * spreads) + 1e-6)
    best = int(np.argmax(scores))
    if scores[best] < _ALIGN_TEXTURE:
        return None  # no texture to line up on: the peak is the noise's
    peak_y, peak_x = shifts[best]

    def accepted(dx: float, dy: float) -> tuple[float, float] | None:
        # Below 1/32 px OpenCV's bilinear warp would not move the donor (its 5 fractional bits).
        return (dx, dy) if 1 / 32 <= np.hypot(dx, dy) <= _ALIGN_SHIFT else None

    def with_gradients(image: np.ndarray, where: np.ndarray) -> np.ndarray:
        """``(3, *where.shape)``: the flat ``image`` at the flat indices ``where`` (at least a pixel inside the
        crop's edges), and its central differences along x and y there (what ``cv2.Sobel`` with ``ksize=1``
        and ``scale=0.5`` gives, computed only where they are read)."""
        return np.stack(
            [
                image.take(where),
                (image.take(where + 1) - image.take(where - 1)) * np.float32(0.5),
                (image.take(where + width) - image.take(where - width)) * np.float32(0.5),
            ]
        )

    # The refinement uses both images' gradients (efficient second-order minimisation: the donor's alone
    # makes the steps overshoot and ring down by halves), so it keeps the pixels whose target neighbours
    # are on the ring, not in the hole, and whose donor samples' neighbours are seen as long as it stays
    # within a pixel of the peak.
    on_ring = cv2.erode(both[rows, cols].astype(np.uint8), np.ones((3, 3), np.uint8)).ravel().take(at) > 0
    at = at[on_ring & seen_around(2).ravel().take(at + peak_y * width + peak_x)]
    if len(at) < _ALIGN_PIXELS // 4:  # counted again: the refinement keeps fewer pixels than the search
        return accepted(float(peak_x), float(peak_y))
    fixed_flat = fixed.ravel()
    values = fixed_flat.take(at).astype(np.float64)
    fixed_gradients = with_gradients(fixed_flat, at)[1:].astype(np.float64)
    corners: dict[tuple[int, int], np.ndarray] = {}  # the donor's four bilinear corners, per whole-pixel cell
    dx, dy, gain = float(peak_x), float(peak_y), 1.0
    last_step = np.inf
    for _ in range(_ALIGN_STEPS):
        # One shift for every pixel: bilinear sampling is four gathers with the same weights, and the steps
        # mostly stay in one whole-pixel cell, whose corners are gathered once.
        x0, y0 = int(np.floor(dx)), int(np.floor(dy))
        fx, fy = dx - x0, dy - y0
        if (x0, y0) not in corners:
            corners[x0, y0] = with_gradients(flat, at + y0 * width + x0 + np.array([0, 1, width, width + 1])[:, None])
        weights = np.array([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        sample = np.einsum("k,ckn->cn", weights, corners[x0, y0])
        slope = (sample[1:] + fixed_gradients / gain) / 2
        design = np.stack([slope[0], slope[1], sample[0], np.ones(len(at))], axis=1)
        # target = gain * donor(x + shift + step) + offset, linearised in the step: the gradient columns'
        # coefficients are gain * step.
        try:
            solution = np.linalg.solve(design.T @ design, design.T @ values)
        except np.linalg.LinAlgError:  # a flat ring, or too little of it left
            return None
        gain = solution[2]
        if gain <= 0:
            return None
        step_x, step_y = float(solution[0] / gain), float(solution[1] / gain)
        step = float(np.hypot(step_x, step_y))
        if step > last_step:
            break  # a step growing: diverging, or circling the minimum
        last_step = step
        dx, dy = dx + step_x, dy + step_y
        # Left the whole-pixel peak's neighbourhood: did not settle. (A pixel off counts: sampled from there,
        # the corner past it and its gradient reach a pixel beyond the crop's margin.)
        if max(abs(dx - peak_x), abs(dy - peak_y)) >= 1:
            return None
        if step < 1 / 128:  # a quarter of the warp's precision
            return accepted(dx, dy)
    if last_step < 1 / 32:
        return accepted(dx, dy)  # circling within the warp's precision (1/32 px): as good as settled
    # Not settled (a step grew, or none was small within _ALIGN_STEPS): the whole-pixel peak, which the
    # texture check vouches for, is within half a pixel; the refinement's last estimate may not be.
    return accepted(float(peak_x), float(peak_y))


def _work_box(view: _View, config: CompletionConfig) -> tuple[slice, slice]:
    """Only the hidden region changes: a frame is completed in its box (grown by the inpainting radius, so
    that inpainting sees the same neighbourhood as on the whole frame, and by the ring where gains are
    measured)."""
    return bounding_box(~view.seen, _work_margin(config))


def _work_margin(config: CompletionConfig) -> int:
    """How far a frame's work box reaches past its hidden region (:func:`_work_box`)."""
    return max(config.inpaint_radius, _GAIN_RING) + 1


def _fill(
    index: int,
    stack: LayerStack,
    window: dict[int, _View],
    camera: _Camera,
    plate: _Plate,
    lifted: np.ndarray,
    config: CompletionConfig,
    memory: FillMemory | None = None,
    agreed: tuple[np.ndarray, np.ndarray] | None = None,
    kept: np.ndarray | None = None,
) -> CompletedFrame:
    """Frame ``index`` completed; ``memory`` carries the never-seen fill's decisions from the frame before
    (frames must then be filled in order); ``agreed``: a static camera's :meth:`_Agreement.result`; ``kept``
    ``(H, W)`` bool: pixels whose background plane stays as it is (:func:`_untouched`), filled all the same
    where they lie near the rest (what the fill next to them does with its ring, gain and seam does not change)
    and skipped farther off (:func:`_narrowed`)."""
    view = window[index] if kept is None else _narrowed(window[index], kept, config)
    last = None if memory is None else memory.take(index)
    source = np.where(lifted, Filled.SHADOW, Filled.SEEN).astype(np.uint8)
    if view.seen.all():
        return CompletedFrame(stack, source)
    rows, cols = _work_box(view, config)
    size = (cols.stop - cols.start, rows.stop - rows.start)
    missing = ~view.seen[rows, cols]
    filled = view.colour[rows, cols].copy()
    crop_source = source[rows, cols]
    ring = (cv2.dilate(missing.astype(np.uint8), np.ones((2 * _GAIN_RING + 1,) * 2, np.uint8)) > 0) & ~missing

    def take_from(colour: np.ndarray, seen: np.ndarray, code: Filled) -> None:
        take = missing & seen
        if config.gain and take.any() and code != Filled.INPAINTED:
            colour = gain_between(filled, colour, ring & seen)
        filled[take] = colour[take]
        crop_source[take] = code
        missing[take] = False

    views: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    target = cv2.cvtColor(filled, cv2.COLOR_RGB2GRAY).astype(np.float32) if config.align and not camera.static else None

    def donor_view(other: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``other``'s background colour, where it is seen, and where it is mostly seen
        (:attr:`_View.mostly`, or seen when it has none), on this frame's crop, however often asked for; a
        moving camera's donor is warped once, and again when the ring lines it up (:func:`_ring_shift`)."""
        if other not in views:
            donor = window[other]
            masks = [donor.seen, donor.seen if donor.mostly is None else donor.mostly]
            if camera.static:
                views[other] = donor.colour[rows, cols], masks[0][rows, cols], masks[1][rows, cols]
            else:

                def warped(homography: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                    seen, mostly = warp_masks(masks, homography, size)
                    return cv2.warpPerspective(donor.colour, homography, size, flags=cv2.INTER_LINEAR), seen, mostly

                homography = shifted(camera.motion(other, index), rows, cols)
                views[other] = warped(homography)
                shift = None if target is None or other == index else _ring_shift(*views[other][:2], target, ring)
                if shift is not None:
                    views[other] = warped(np.array([[1.0, 0.0, -shift[0]], [0.0, 1.0, -shift[1]], [0.0, 0.0, 1.0]]) @ homography)
        return views[other]

    to_frame = None if camera.static else shifted(np.linalg.inv(camera.to_canvas[index]), rows, cols)

    def from_plate(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (image[rows, cols], mask[rows, cols]) if to_frame is None else warp(image, mask, to_frame, size)

    # A lifted shadow takes only what donors saw lit there (their local means not far darker than its lift),
    # not the person's shadow still, where their own lift missed it (a scooter's, which moves with it).
    shade = lifted[rows, cols] & missing
    shade_box = bounding_box(shade, _DONOR_REACH) if shade.any() else None
    # Means over the shadow's pixels alone: the lit ground beside a thin shadow would lighten a donor's there.
    lit = None if shade_box is None else _brightness(_local_mean(filled[shade_box], shade[shade_box]))

    def lit_offer(other: int) -> tuple[np.ndarray, np.ndarray]:
        colour, seen = donor_view(other)[:2]
        if shade_box is None or lit is None or not (seen[shade_box] & shade[shade_box]).any():
            return colour, seen
        dark = np.zeros_like(seen)
        mean = _brightness(_local_mean(colour[shade_box], (seen & shade)[shade_box]))
        dark[shade_box] = shade[shade_box] & (mean < _LIT_DONOR * lit)
        return colour, seen & ~dark

    donors = sorted((k for k in window if k != index), key=lambda k: (abs(k - index), k))
    plate_colour, plate_seen = from_plate(plate.colour, plate.seen)
    if config.donors in ("median", "agreeing"):
        offers = [lit_offer(other) for other in donors]
        taken = np.zeros_like(missing)
        for _, seen in offers:
            taken |= seen
        taken &= missing
        if taken.any():
            # Each donor's gain is measured on the ring (this frame's side gathered once, every few pixels:
            # a median of 4096 ratios is all a gain uses); only the hidden pixels some donor saw are gathered.
            ring_ys, ring_xs = np.nonzero(ring)
            step = max(1, ring_ys.size // (4 * _GAIN_SAMPLES))
            ring_ys, ring_xs = ring_ys[::step], ring_xs[::step]
            ring_colour = filled[ring_ys, ring_xs]

            def donor_gain(colour: np.ndarray, seen: np.ndarray) -> np.ndarray | None:
                both = seen[ring_ys, ring_xs]
                if not config.gain:
                    return None
                return gain_of_samples(ring_colour[both], colour[ring_ys[both], ring_xs[both]], samples=_GAIN_SAMPLES)

            taken_ys, taken_xs = np.nonzero(taken)
            gains = [donor_gain(colour, seen) for colour, seen in offers]
            values = [apply_gain(_pixels(colour, taken_ys, taken_xs), gain) for (colour, _), gain in zip(offers, gains)]
            saw = [_pixels(seen, taken_ys, taken_xs) for _, seen in offers]
            median, _ = _median_of(values, saw)
            if config.donors == "agreeing" and not camera.static:
                # Over the box of the pixels taken, grown by the window's reach: the same means, for less.
                box = bounding_box(taken, _DONOR_REACH)
                box_ys, box_xs = taken_ys - box[0].start, taken_xs - box[1].start
                means = [
                    apply_gain(_pixels(_local_mean(colour[box], seen[box]), box_ys, box_xs), gain)
                    for (colour, seen), gain in zip(offers, gains)
                ]
                median = _nearest_agreeing(values, means, saw, median)
            filled[taken] = median
            crop_source[taken] = Filled.NEIGHBOUR
            missing &= ~taken
    else:
        for other in donors:
            if not missing.any():
                break
            take_from(*lit_offer(other), Filled.NEIGHBOUR)
    # A lifted shadow no frame of the window saw lit keeps its lift (the plate is the frames' unlifted mean), where
    # this frame saw the ground: under a person's soft edge the plane holds the decomposition's guess, which a
    # lift only brightens (under the woman's white shoe on woman_dog, a teal smear).
    kept_lift = lifted[rows, cols]
    if kept_lift.any():  # the frame's light is worked out only for a frame with a lift
        kept_lift = kept_lift & (_background_weight(stack)[rows, cols] >= config.seen_above).cpu().numpy()
        missing &= ~kept_lift
    if missing.any():
        take_from(plate_colour, plate_seen, Filled.PLATE)
    if missing.any():
        unseen = missing.copy()
        gain = correction = None
        if config.never_seen == "exemplar":
            invented, _ = from_plate(plate.filled, np.ones(plate.seen.shape, bool))
            if config.gain:
                # The last frame's gain holds while this frame's is within noise of it: it is measured on a
                # ring whose pixels change with the mask, and a gain flicker shows across the whole fill.
                gain = gain_of(filled, invented, ring & plate_seen, keep=None if last is None else last.gain)
                invented = apply_gain(invented, gain)
            if config.blend:
                # Gradient-domain blend (Poisson): the invention plus the membrane of the smooth colour
                # difference around the hole, where the last frame's, carried with the camera, holds
                # within noise (the hole's border and its pixels change with the mask every frame).
                difference = seam_difference(filled, invented, missing, _SEAM_SCALE)
                carried = None
                if last is not None:
                    carried = last.carried(np.eye(3) if camera.static else camera.motion(index - 1, index), (rows, cols))
                if carried is not None:
                    difference = held(difference, carried[0], carried[1] & ~missing, _SEAM_HOLD)
                correction = membrane(difference, missing, band=_SEAM_BAND)
                invented = add_inside(invented, correction, missing)
        else:
            invented = cv2.inpaint(filled, missing.astype(np.uint8), config.inpaint_radius, cv2.INPAINT_TELEA)
        take_from(invented, missing.copy(), Filled.INPAINTED)
        if config.partly_seen_above is not None:
            # Laid over the invention rather than before it: the invention is blended against the same
            # border in every frame, so it does not change with where this frame's matte is soft.
            offers = [(colour, mostly) for colour, _, mostly in map(donor_view, window)]
            # The median, which the seen pixels' donors are judged by (a frame whose matte lost a shoe offers it), and only
            # where the frames agree: where they do not, the ring holds some of the person. A moving camera
            # needs two frames: one resampled through chained homographies cannot be checked, and along a
            # person's edge a pixel of misalignment brings the edge in (synthetic pans: the never-seen fill
            # lost 0.9 dB).
            # Only pixels some frame shows mostly can take a median (around a still person, a ring a few
            # pixels wide): the colours are gathered and sorted there alone.
            ys, xs = np.nonzero(unseen)
            shown = [_pixels(mostly, ys, xs) for _, mostly in offers]
            offered = np.flatnonzero(np.logical_or.reduce(shown))
            ys, xs = ys[offered], xs[offered]
            median, taken = _median_of(
                [_pixels(colour, ys, xs) for colour, _ in offers],
                [mostly[offered] for mostly in shown],
                agree=_RING_AGREE,
                least=1 if camera.static else 2,
            )
            filled[ys[taken], xs[taken]] = median[taken]
            crop_source[ys[taken], xs[taken]] = Filled.NEIGHBOUR
        if agreed is not None:
            shown = unseen & (crop_source == Filled.INPAINTED) & agreed[1][rows, cols]
            filled[shown] = agreed[0][rows, cols][shown]
            crop_source[shown] = Filled.AGREED
        if memory is not None:
            memory.keep(index, gain, correction, (rows, cols))
    if kept is not None:
        crop_source[kept[rows, cols]] = Filled.SEEN
    return CompletedFrame(_with_background(stack, filled, crop_source, (rows, cols)), source)


def _narrowed(view: _View, kept: np.ndarray, config: CompletionConfig) -> _View:
    """``view`` with each hidden region that lies wholly in ``kept`` (:func:`_untouched`) and farther than the work
    box's margin from the rest counted as seen: its fill would be thrown away, and it is not the border of what
    is filled (the gain ring, the seam). Skipping it changes only the work box, which the seam's coarse grid
    follows (a few levels). A hidden region within the margin is filled whole: its pixels are that border, and
    as "seen" they would bring the decomposition's guess of the ground under a staying person into it."""
    hidden = ~view.seen
    if not (hidden & kept).any():
        return view
    count, labels = cv2.connectedComponents(hidden.astype(np.uint8), connectivity=8)
    margin = 2 * _work_margin(config) + 1
    near = cv2.dilate((hidden & ~kept).astype(np.uint8), np.ones((margin, margin), np.uint8)) > 0
    reached = np.zeros(count, bool)
    reached[np.unique(labels[near & hidden])] = True
    return replace(view, seen=view.seen | (hidden & ~reached[labels]))


def _untouched(stack: LayerStack, leaving: tuple[int, ...], lifted: np.ndarray, config: CompletionConfig) -> np.ndarray:
    """``(H, W)`` bool: the ground the people ``leaving`` neither hide nor mark, which an edit that takes only
    them away shows as the frame did: farther than their reach (:func:`~vmat.editing.leftovers.near`, where
    what their matte missed lies, and at least past their margin) from wherever they show at all, and not
    their lifted shadow (``lifted`` ``(H, W)`` bool). There the other people's soft edges, and a matte spilling
    faintly past them, keep the background the frame was decomposed with: completed from other frames, a
    spill of alpha 0.1 showed their ground, another person's limbs included, as a mottled patch."""
    leftovers = config.leftovers or LeftoverConfig()
    reach = replace(leftovers, least_reach=max(leftovers.least_reach, config.margin + 1))
    marked = lifted.copy()
    for instance in leaving:
        if instance in stack.ids:
            marked |= near((stack.alpha[stack.index_of(instance)] > 1.0 - config.seen_above).cpu().numpy(), reach)
    return ~marked


class _Agreement:
    """What a static camera's frames show where the layers hide the ground (:attr:`CompletionConfig.agree_frames`).

    Per pixel: the colour of the frame where it lies least deep in the hidden region so far (the seed,
    :meth:`seed_with`), and over the frames counted against that seed (:meth:`tally`), how many agree
    with it, their colour, and the depths of the agreeing frames and of the others. Only pixels every
    frame so far hides can ever be taken, so everything is kept over their box, which only shrinks.
    The whole clip counts in a second pass against the final seeds; the one-pass stream counts as frames
    arrive (:class:`~vmat.editing.completion_stream.CompletionStream`). Memory: a few arrays the size of
    that box, whatever the clip length."""

    def __init__(self, height: int, width: int) -> None:
        self.box = (slice(0, height), slice(0, width))
        self.hidden = np.ones((height, width), bool)  # over box: hidden by every frame so far
        self.nearest = np.full((height, width), np.inf, np.float32)
        self.seed = np.zeros((height, width, 3), np.uint8)
        self.restart()

    def restart(self, where: np.ndarray | bool = True) -> None:
        """Forget what was counted (at ``where``, over the box)."""
        shape = self.hidden.shape
        if where is True:
            self.count = np.zeros(shape, np.int32)
            self.counted = np.zeros(shape, np.int32)
            self.total = np.zeros((*shape, 3), np.float32)
            self.depth_in = np.zeros(shape, np.float32)
            self.depth_out = np.zeros(shape, np.float32)
            return
        for sums in (self.count, self.counted, self.total, self.depth_in, self.depth_out):
            sums[where] = 0

    def shown(self, stack: LayerStack, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Over the box, the frame as the layers compose it ``(h, w, 3)`` uint8 and each pixel's distance
        ``(h, w)`` from the ground ``seen`` ``(H, W)`` in it."""
        rows, cols = self.box
        crop = stack.replace(colour=stack.colour[:, :, rows, cols], alpha=stack.alpha[:, rows, cols])
        depth = cv2.distanceTransform((~seen).astype(np.uint8), cv2.DIST_L2, 5)[self.box]
        return tensor_to_image(crop.render()), depth

    def narrow(self, hidden: np.ndarray) -> None:
        """Keep only pixels also ``hidden`` ``(H, W)``; the box shrinks to theirs (stored crops shrink with it)."""
        self.hidden &= hidden[self.box]
        inner = bounding_box(self.hidden) if self.hidden.any() else (slice(0, 0), slice(0, 0))
        if inner == (slice(0, self.hidden.shape[0]), slice(0, self.hidden.shape[1])):
            return
        rows, cols = self.box
        self.box = (
            slice(rows.start + inner[0].start, rows.start + inner[0].stop),
            slice(cols.start + inner[1].start, cols.start + inner[1].stop),
        )
        for name in ("hidden", "nearest", "seed", "count", "counted", "total", "depth_in", "depth_out"):
            setattr(self, name, getattr(self, name)[inner])

    def seed_with(self, shown: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Take a frame's ``shown`` colour and ``depth`` (over the box) as the seed where it lies least deep
        so far (the first such frame on a tie); ``(h, w)`` bool where the seed changed."""
        nearer = depth < self.nearest
        self.nearest[nearer] = depth[nearer]
        self.seed[nearer] = shown[nearer]
        return nearer

    def first(self, stack: LayerStack, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Narrow to a frame's hidden pixels (``seen``: its ground) and seed with it; its shown colour and
        depth over the box, and where the seed changed (see :meth:`seed_with`); ``None``: no pixel is left."""
        self.narrow(~seen)
        if not self.hidden.any():
            return None
        shown, depth = self.shown(stack, seen)
        return shown, depth, self.seed_with(shown, depth)

    def second(self, stack: LayerStack, seen: np.ndarray) -> None:
        """Count a frame against the final seeds (the whole clip's second pass)."""
        if self.hidden.any():
            self.tally(*self.shown(stack, seen))

    def tally(self, shown: np.ndarray, depth: np.ndarray, at: Any = Ellipsis) -> None:
        """Count a frame's ``shown`` colour and ``depth`` against the seed: over the box, or only at the
        box's pixels ``at`` (an index, e.g. ``np.nonzero(mask)``; ``shown`` and ``depth`` given there)."""
        agree = np.abs(shown.astype(np.int16) - self.seed[at]).max(axis=-1) <= _RING_AGREE
        self.counted[at] += 1
        self.count[at] += agree
        self.total[at] += np.where(agree[..., None], shown, 0)
        self.depth_in[at] += np.where(agree, depth, 0)
        self.depth_out[at] += np.where(agree, 0, depth)

    def result(self, seen: np.ndarray, ground: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
        """The agreed colour ``(H, W, 3)`` uint8 and ``(H, W)`` bool where it is trusted, given where the
        plate is ``seen`` and its colour ``ground`` (read within ``_AGREE_REACH + 2`` px of the box)."""
        colour = np.zeros((*seen.shape, 3), np.uint8)
        trusted = np.zeros(seen.shape, bool)
        if not self.hidden.any():
            return colour, trusted
        # Only pixels no frame saw, near ground some frame saw.
        reach = cv2.distanceTransform((~seen).astype(np.uint8), cv2.DIST_L2, 5)[self.box] <= _AGREE_REACH
        count = self.count
        others = self.counted - count
        mean = self.total / np.maximum(count, 1)[..., None]
        deeper = self.depth_out * np.maximum(count, 1) > self.depth_in * np.maximum(others, 1)
        wanted = ~seen[self.box] & reach & (count >= least) & (others >= least) & deeper
        # The colour must occur in the seen ground around the pixel (every channel within _RING_AGREE).
        ys, xs = np.nonzero(wanted)
        found = _occurs_near(seen, ground, ys + self.box[0].start, xs + self.box[1].start, mean[ys, xs])
        colour[self.box] = np.round(mean).astype(np.uint8)
        trusted[ys[found] + self.box[0].start, xs[found] + self.box[1].start] = True
        return colour, trusted


def _occurs_near(seen: np.ndarray, ground: np.ndarray, ys: np.ndarray, xs: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``(n,)`` whether each pixel ``(ys, xs)``'s ``colour`` ``(n, 3)`` occurs (every channel within
    ``_RING_AGREE``) among the ``seen`` ``(H, W)`` pixels of ``ground`` ``(H, W, 3)`` within ``_AGREE_REACH + 2`` px."""
    found = np.zeros(ys.size, bool)
    if not ys.size:
        return found
    radius = _AGREE_REACH + 2
    # Over the pixels' box, padded with unseen ground so that no offset needs a bounds check.
    top, left = ys.min() - radius, xs.min() - radius
    height, width = ys.max() + radius + 1 - top, xs.max() + radius + 1 - left
    here = (slice(max(top, 0), min(top + height, seen.shape[0])), slice(max(left, 0), min(left + width, seen.shape[1])))
    padded_seen = np.zeros((height, width), bool)
    padded_ground = np.zeros((height, width, 3), np.uint8)
    inner = (slice(here[0].start - top, here[0].stop - top), slice(here[1].start - left, here[1].stop - left))
    padded_seen[inner] = seen[here]
    padded_ground[inner] = ground[here]
    flat_seen, flat_ground = padded_seen.reshape(-1), padded_ground.reshape(-1, 3)
    span = range(-radius, radius + 1)
    disk = np.array([[dy * dy + dx * dx <= radius * radius for dx in span] for dy in span], np.uint8)
    # A colour outside the range of the seen colours around a pixel (per channel) cannot occur there: most
    # pixels that find none leave before the search (a hundredth of a level wider than the test below,
    # so that float rounding leaves none out that it would find).
    highest = cv2.dilate(np.where(padded_seen[..., None], padded_ground, 0).astype(np.uint8), disk)
    lowest = cv2.erode(np.where(padded_seen[..., None], padded_ground, 255).astype(np.uint8), disk)
    here_y, here_x = ys - top, xs - left
    within = (highest[here_y, here_x] >= colour - _RING_AGREE - 0.01) & (lowest[here_y, here_x] <= colour + _RING_AGREE + 0.01)
    # A row of offsets at a time, nearest rows first: most pixels find their colour within a few rows
    # and leave the search.
    todo = np.flatnonzero(within.all(axis=1))
    at = here_y * width + here_x
    for dy in sorted(range(-radius, radius + 1), key=abs):
        reach = math.isqrt(radius * radius - dy * dy)
        near = at[todo, None] + dy * width + np.arange(-reach, reach + 1)
        close = np.abs(flat_ground[near] - colour[todo, None]).max(axis=2) <= _RING_AGREE
        hit = (flat_seen[near] & close).any(axis=1)
        found[todo[hit]] = True
        todo = todo[~hit]
        if not todo.size:
            break
    return found


def _pixels(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``image[ys, xs]`` of an ``(h, w)`` or ``(h, w, c)`` image (a crop of a larger one too), gathered along
    a flat pixel axis by ``np.take``: the same values several times faster than a boolean mask (which finds
    its pixels again for every image) or fancy indexing on a crop."""
    pixel = image.itemsize * (image.shape[2] if image.ndim == 3 else 1)
    packed = image.strides[1:] == ((pixel, image.itemsize) if image.ndim == 3 else (pixel,))
    if not ys.size or not packed or image.strides[0] < pixel * image.shape[1] or image.strides[0] % pixel:
        return image[ys, xs]
    row = image.strides[0] // pixel  # pixels per row of the array the image is a view of
    span = (image.shape[0] - 1) * row + image.shape[1]
    flat = np.lib.stride_tricks.as_strided(image, (span, *image.shape[2:]), image.strides[1:], writeable=False)
    return np.take(flat, ys * row + xs, axis=0)


def _median_of(
    values: list[np.ndarray], seen: list[np.ndarray], agree: int | None = None, least: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel and channel the median ``(n, 3)`` of the donors' ``(n, 3)`` values that saw it (the lower
    middle of an even count), and ``(n,)`` whether any did; with ``agree``, whether at least ``least`` did
    and their middle half spans at most ``agree`` levels in every channel."""
    # Donors along the last (contiguous) axis; what a donor did not see is 256, which sorts last.
    stacked = np.stack(values, axis=-1).astype(np.uint16)
    seen_here = np.stack(seen, axis=-1)
    stacked[~np.broadcast_to(seen_here[:, None, :], stacked.shape)] = 256
    count = seen_here.sum(axis=1)
    middle = np.maximum(count - 1, 0) // 2
    stacked.sort(axis=-1)
    median = np.take_along_axis(stacked, middle[:, None, None], -1)[..., 0]
    median[count == 0] = 0
    if agree is None:
        return median.astype(np.uint8), count > 0
    quarter = np.maximum(count - 1, 0) // 4
    low = np.take_along_axis(stacked, quarter[:, None, None], -1)[..., 0]
    high = np.take_along_axis(stacked, np.maximum(count - 1 - quarter, 0)[:, None, None], -1)[..., 0]
    return median.astype(np.uint8), (count >= least) & ((high.astype(np.int32) - low).max(axis=1) <= agree)


def _local_mean(colour: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """``(h, w, 3)`` uint8: the mean colour around each pixel (Gaussian, ``_DONOR_BLUR`` px) of the ``seen``
    pixels of ``colour`` only: what a donor holds where it did not see the background is not the ground."""
    (mean,), _ = normalised_convolution(seen, _DONOR_BLUR, colour.astype(np.float32))
    return np.clip(mean + 0.5, 0, 255).astype(np.uint8)


def _brightness(colour: np.ndarray) -> np.ndarray:
    """``(h, w)`` float32: the mean of an ``(h, w, 3)`` image's channels."""
    return colour.astype(np.float32).mean(axis=2)


def _nearest_agreeing(
    values: list[np.ndarray], means: list[np.ndarray], seen: list[np.ndarray], median: np.ndarray
) -> np.ndarray:
    """``(n, 3)`` uint8: per pixel the value of the first donor (nearest in time first) that saw it and whose
    local mean lies within ``_DONOR_AGREE`` levels of the median of those donors' local means (every channel),
    else ``median``. ``values`` and ``means`` are each donor's ``(n, 3)`` uint8, ``seen`` its ``(n,)`` bool."""
    middle, _ = _median_of(means, seen)
    middle = middle.astype(np.int16)
    result = median.copy()
    open_ = np.ones(median.shape[0], bool)
    for value, mean, saw in zip(values, means, seen):
        agrees = open_ & saw & (np.abs(mean.astype(np.int16) - middle).max(axis=1) <= _DONOR_AGREE)
        result[agrees] = value[agrees]
        open_ &= ~agrees
    return result


def _with_background(stack: LayerStack, image: np.ndarray, source: np.ndarray, box: tuple[slice, slice]) -> LayerStack:
    """``stack`` with its background plane replaced by ``image`` in ``box`` where ``source`` says it was
    filled (elsewhere, lifted shadows included, the plane keeps its full precision)."""
    replaced = (source != Filled.SEEN) & (source != Filled.SHADOW)
    if not replaced.any():
        return stack
    rows, cols = box
    colour = stack.colour.clone()
    changed = torch.from_numpy(replaced).to(colour.device)
    colour[0, :, rows, cols] = torch.where(
        changed, image_to_tensor(np.ascontiguousarray(image)).to(colour.device), colour[0, :, rows, cols]
    )
    return stack.replace(colour=colour)


def _lift(
    stack: LayerStack,
    shadowed: tuple[int, ...],
    config: CompletionConfig,
    away: _Plate | None,
    camera: _Camera | None,
    index: int,
    completed: bool = False,
) -> tuple[LayerStack, np.ndarray]:
    """Frame ``index`` with the shadows of ``shadowed`` lifted, knowing the ground seen ``away`` from them
    (a plate in ``camera``'s canvas); the lifted layers and the ``(H, W)`` bool pixels that changed.
    ``completed``: the background plane is completed under them (:func:`~vmat.editing.shadows.lift_shadows`)."""
    if not shadowed:
        return stack, np.zeros((stack.height, stack.width), bool)
    ground = None
    if away is not None and camera is not None:
        if camera.static:
            colour, seen = away.colour, away.seen
        else:
            colour, seen = warp(away.colour, away.seen, np.linalg.inv(camera.to_canvas[index]), (stack.width, stack.height))
        ground = (colour, seen)  # the 8-bit plate: lift_shadows reads it as its float version, no full-frame copy
    return lift_shadows(stack, shadowed, config.shadows, ground, completed)


def _lent(source: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: the pixels of a completed frame (its ``source`` codes) that the clean plate or the
    agreeing frames lent it, which may hold a removed person's unlifted shadow (:func:`_lift_lent`)."""
    return (source == Filled.PLATE) | (source == Filled.AGREED)


def _lift_lent(
    done: CompletedFrame,
    shadowed: tuple[int, ...],
    config: CompletionConfig,
    away: _Plate | None,
    camera: _Camera | None,
    index: int,
) -> CompletedFrame:
    """``done`` with the shadows of ``shadowed`` lifted from what the clean plate and the agreeing frames lent it.

    The frames of the window lend only ground they saw outside the removed people's shadows, but the plate is
    the frames' unlifted mean, and a static camera's agreeing frames are read as they are: ground only some frames saw, right by
    a person who hardly moves (under a heel they lift now and then), is their shadow there, and it came
    back as dark blots where they stood. Only those pixels change (elsewhere, counting the person as ground
    takes dark ground under them for shadow: a striped sheet lent by the window)."""
    lent = _lent(done.source)
    if not shadowed or not lent.any():
        return done
    lifted, changed = _lift(done.stack, shadowed, config, away, camera, index, completed=True)
    changed &= lent
    if not changed.any():
        return done
    where = torch.from_numpy(changed).to(lifted.colour.device)
    colour = done.stack.colour.clone()
    colour[0] = torch.where(where, lifted.colour[0], colour[0])
    return CompletedFrame(done.stack.replace(colour=colour), done.source)


class _Lift(NamedTuple):
    """What lifting shadows changed in a frame, all that is kept of it until the frame is completed (the
    lifted float planes, 28 MB a 720p frame, are made again from the frame as read): ``(H, W)`` bool
    ``changed`` pixels, and the background's lifted colour ``(3, h, w)`` over their box (``None``: nothing
    changed)."""

    changed: np.ndarray
    box: tuple[slice, slice]
    colour: torch.Tensor | None

    @classmethod
    def of(cls, lifted: LayerStack, changed: np.ndarray) -> _Lift:
        if not changed.any():
            return cls(changed, _EMPTY, None)
        rows, cols = bounding_box(changed)
        return cls(changed, (rows, cols), lifted.colour[0][:, rows, cols].clone())

    def applied(self, stack: LayerStack) -> LayerStack:
        """``stack`` (the frame as read) as lifting left it: outside ``changed`` lifting leaves every value."""
        if self.colour is None:
            return stack
        colour = stack.colour.clone()
        colour[0][:, self.box[0], self.box[1]] = self.colour
        return stack.replace(colour=colour)


class _Prepared:
    """The clip's layers as completion sees them.

    The first passes see them as they are, and note where each frame sees the ground away from the
    people being removed; once the camera and that ground are known, the last pass sees them with those
    people's shadows lifted from the background plane (unless the shadows are kept).
    """

    def __init__(
        self, stacks: Iterable[LayerStack], removing: tuple[int, ...], keep_shadows: bool, config: CompletionConfig
    ) -> None:
        self.stacks, self.config = stacks, config
        self.shadowed = () if keep_shadows else removing
        self.camera: _Camera | None = None
        self.away: _Plate | None = None
        self.agreement: _Agreement | None = None
        self.removing = removing
        self.lifts: dict[int, _Lift] = {}  # frames the last pass's views lifted that are not completed yet
        self.moving = config.camera == "moving"
        # A still camera's leftovers' ground is summed in the first pass; a moving camera's, on its canvas,
        # in the second (the canvas is known only after the first).
        self.leftovers = None if self.moving else _leftovers(config, removing)

    def moved(self) -> None:
        """The camera moves: what only a static camera uses is no longer summed."""
        self.moving, self.agreement, self.leftovers = True, None, None

    def first_views(self, first: bool = False) -> Iterator[_View]:
        """The views of the first passes; with ``first``, what a static camera uses is started on the way (the
        clip's :class:`_Agreement` and leftovers' ground, while the camera may be static: :meth:`moved`
        stops them); without, once a moving :attr:`camera` is known, the leftovers' ground on its canvas."""
        agree = first and self.config.agree_frames is not None
        canvas = None if first or self.camera is None or self.camera.static else self.camera.to_canvas
        trail = _Trail(self.removing, self.config)
        for index, stack in enumerate(self.stacks):
            view = _view(stack, self.config)
            # Until the camera is seen to move (the static plate, agreement and leftovers are dropped then; it
            # never stops moving, so the trail sees every frame it is used on and the one before).
            if first and not self.moving:
                view = _trailed(view, trail(stack))
            if agree and not self.moving:
                self.agreement = self.agreement or _Agreement(stack.height, stack.width)
                self.agreement.first(stack, view.seen)
            if self.leftovers is not None and (first or canvas is not None):
                self.leftovers.add(stack, view.colour, view.seen, None if canvas is None else canvas[index])
            if self.shadowed:
                view.away = view.seen & ~near_people(stack, self.shadowed, self.config.shadows)
            yield view

    def lift(self, index: int, stack: LayerStack) -> tuple[LayerStack, np.ndarray]:
        return _lift(stack, self.shadowed, self.config, self.away, self.camera, index)

    def lift_lent(self, index: int, done: CompletedFrame) -> CompletedFrame:
        return _lift_lent(done, self.shadowed, self.config, self.away, self.camera, index)

    def lifted(self, index: int, stack: LayerStack) -> tuple[LayerStack, np.ndarray]:
        """Frame ``index`` (``stack``, as read) with the shadows lifted as its view in :meth:`last_views`, which must
        have reached it, saw it, and the ``(H, W)`` bool pixels that changed: a frame is lifted once."""
        lift = self.lifts.pop(index)
        return lift.applied(stack), lift.changed

    def last_views(self) -> Iterator[_View]:
        """The views of the last pass: shadows lifted, and leftovers unseen."""
        camera = self.camera
        trail = _Trail(self.removing, self.config)
        for index, unlifted in enumerate(self.stacks):
            stack, shadow = self.lift(index, unlifted)
            self.lifts[index] = _Lift.of(stack, shadow)
            people = [] if self.leftovers is None else self.leftovers.people(stack)
            to_canvas = None if camera is None or camera.static else camera.to_canvas[index]
            view = _view(stack, self.config)
            if camera is None or camera.static:
                view = _trailed(view, trail(stack))
            yield _unshadowed(_without_leftovers(view, people, shadow, self.leftovers, to_canvas), shadow)


def _leftovers(config: CompletionConfig, removing: Iterable[int], canvas: tuple[int, int] | None = None) -> ClipLeftovers | None:
    """What finds the leftovers of the people ``removing`` (:attr:`CompletionConfig.leftovers`), summing
    the ground on the frames' grid, or on a moving camera's ``canvas`` (its width and height); ``None``:
    nothing to find."""
    removing = tuple(removing)
    if config.leftovers is None or not removing:
        return None
    return ClipLeftovers(removing, config.leftovers, canvas)


def _unshadowed(view: _View, shadow: np.ndarray) -> _View:
    """``view`` with its lifted shadow pixels (``shadow``) hidden: a lift only approximates the lit ground, which
    frames that saw it lit give as it is (:func:`_fill` takes it from them first and keeps the lift where none
    did), so a donor never offers its own lifted pixels."""
    if not shadow.any():
        return view
    return _View(view.colour, view.seen & ~shadow, view.away, None if view.mostly is None else view.mostly & ~shadow)


def _without_leftovers(
    view: _View, people: list[People], shadow: np.ndarray, leftovers: ClipLeftovers | None, to_canvas: np.ndarray | None = None
) -> _View:
    """``view`` of a frame with its leftovers unseen (also by :attr:`_View.mostly`: the ring's median would
    bring them back), given its :meth:`~ClipLeftovers.people`; ``shadow``: its lifted pixels, never taken;
    ``to_canvas``: its pixels -> a moving camera's canvas, where the leftovers' ground is summed."""
    if leftovers is None or not people:
        return view
    found = leftovers.of(people, view.colour, view.seen, shadow, to_canvas)
    if not found.any():
        return view
    return _View(view.colour, view.seen & ~found, view.away, None if view.mostly is None else view.mostly & ~found)


def complete_background(
    stacks: Iterable[LayerStack],
    config: CompletionConfig = CompletionConfig(),
    *,
    removing: Iterable[int] = (),
    keep_shadows: bool = False,
    leave_staying: bool = False,
) -> Iterator[CompletedFrame]:
    """Complete every frame's background plane where people hid it (streaming passes).

    Args:
        stacks: the clip's layers; iterated up to four times (the camera and a static camera's plate; a moving
            camera's plate, or a static camera's agreement (:attr:`CompletionConfig.agree_frames`); the frames,
            twice at once: the window ahead and the frame completed), so it must be re-iterable, e.g. a
            :class:`~vmat.layers.LayersReader` or a list, not a generator.
        config: completion settings.
        removing: ids of the people about to be removed or moved: their shadows are lifted from the
            background plane.
        keep_shadows: leave the shadows of ``removing`` where they are.
        leave_staying: change the plane only where ``removing`` hide or mark it (their matte, what it
            missed, their shadows): ground only the people who stay hide keeps its decomposed colour (code
            ``SEEN``), so that an edit taking only ``removing`` away shows it as the frame did.

    Yields:
        One :class:`CompletedFrame` per frame, in order.
    """
    if iter(stacks) is stacks:
        raise LayerError("Background completion reads the layers more than once: pass a LayersReader or a list.")
    if config.window < 0:
        raise LayerError(f"The completion window must be 0 or more frames, got {config.window}.")
    prepared = _Prepared(stacks, tuple(removing), keep_shadows, config)
    camera, static_plate, static_away = _track_camera(prepared.first_views(first=True), config, prepared.moved)
    prepared.camera = camera  # a moving camera's second pass sums the leftovers' ground on its canvas
    if camera.static:
        plate, away = static_plate.plate(), None if static_away is None else static_away.plate()
        if prepared.leftovers is not None:
            prepared.leftovers.correct(plate.colour, static_plate.total, static_plate.count)
    else:
        prepared.leftovers = _leftovers(config, prepared.removing, camera.canvas_size)
        plate, away = _build_moving_plate(prepared.first_views(), camera, prepared.leftovers)
    prepared.away = away
    if config.never_seen == "exemplar":
        plate.fill(config)
    agreed = None
    if prepared.agreement is not None and camera.static:
        agreement = prepared.agreement
        trail = _Trail(prepared.removing, config)
        for stack in stacks:
            agreement.second(stack, _trailed(_view(stack, config), trail(stack)).seen)
        agreed = agreement.result(plate.seen, plate.colour, config.agree_frames or 0)
    ahead = enumerate(prepared.last_views())
    window: dict[int, _View] = {}
    order: deque[int] = deque()
    memory = FillMemory()
    for index, unlifted in enumerate(stacks):
        while not order or order[-1] < min(index + config.window, len(camera.to_canvas) - 1):
            k, upcoming = next(ahead)
            window[k] = upcoming
            order.append(k)
        while order[0] < index - config.window:
            del window[order.popleft()]
        stack, shadow = prepared.lifted(index, unlifted)
        kept = _untouched(stack, prepared.removing, shadow, config) if leave_staying else None
        yield prepared.lift_lent(index, _fill(index, stack, window, camera, plate, shadow, config, memory, agreed, kept))


def complete_layers_file(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    config: CompletionConfig = CompletionConfig(),
) -> dict[str, int]:
    """Complete the background of a layers file into a new layers file.

    Returns:
        How many background pixels, over the clip, were seen, taken from neighbours, from the plate,
        inpainted, relit where a shadow was lifted, and taken from frames that agree (keys: the lower-case
        :class:`Filled` names).
    """
    reader = LayersReader(source)
    counts = dict.fromkeys((f.name.lower() for f in Filled), 0)
    with LayersWriter(destination, frame_rate=reader.info.frame_rate, metadata=reader.info.metadata) as writer:
        for index, frame in enumerate(complete_background(reader, config)):
            writer.write(frame.stack, reader.info.times[index])
            for code in Filled:
                counts[code.name.lower()] += int((frame.source == code).sum())
    return counts
