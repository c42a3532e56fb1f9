"""Leftovers: the parts of a person being removed that their matte missed (a shoe's toe, a hand, a racket's
head).

Removal shows the background plane wherever the person's matte does not reach, so whatever of the person
lies outside it stays in the picture, with nobody attached. Such a part is found as the pixels just outside
the matte (within ``reach`` of the person's height) whose colour in this frame disagrees with what the
clip's other frames reliably show there, and that touch the person without going on past that reach into
disagreeing or unknown ground (what does is something the person touches: a dog's muzzle, a bag put down).

"What the other frames show" is the ground's running statistics (:class:`GroundSum`): each pixel's mean
and spread over the frames that saw it with the people being removed farther than ``reach`` from it, so
that a part the matte misses in every frame never counts as ground. A pixel disagrees when, after the
frame's per-channel gain against that ground (auto-exposure), one channel is farther from the mean than
``distance`` times the ground's own spread there (never less than ``noise``, for compression and a
ground seen in too few frames to measure its spread); ground seen away from the person in fewer than
``frames`` frames, or varying by more than ``steady`` over them, is not trusted either way. Guards: other
people's layers are never taken (nor crossed);
pixels darker than the ground with its chroma are a shadow (:mod:`vmat.editing.shadows` lifts or keeps
those), and blobs that keep the ground's texture are the ground under other light (the person's shadow lay
there while other frames saw it); a disagreeing blob counts only when it touches the person and holds
``area`` pixels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from vmat.editing.blending import _largest, apply_gain, gain_of_samples
from vmat.editing.shadows import ShadowConfig, _channel_sum
from vmat.editing.warping import accumulate_in, onto_canvas, reading_box, shifted, warp_masks
from vmat.geometry import bounding_box
from vmat.layers.stack import LayerStack


@dataclass(frozen=True)
class LeftoverConfig:
    """Settings for :func:`find_leftovers`."""

    reach: float = 0.05
    """How far outside the matte a leftover may lie, as a fraction of the person's height (a toe, fingers)."""
    least_reach: int = 3
    """The reach in pixels, at least."""
    frames: int = 4
    """Ground seen away from the people in fewer frames than this is not trusted."""
    steady: float = 12.0
    """Nor is ground whose spread over the frames is above this (8-bit levels): something else moves there
    (a dog that is no layer), or the light does."""
    distance: float = 4.0
    """A pixel disagrees when a channel is farther than this many spreads (standard deviations over the
    frames) from the ground's mean."""
    noise: float = 4.0
    """The least spread assumed (8-bit levels): compression noise, and a spread measured on few frames."""
    area: int = 8
    """The fewest pixels of a leftover blob."""
    deepest: float = 0.25
    """A pixel darker than the ground with its chroma (:attr:`ShadowConfig.darker_than`,
    :attr:`ShadowConfig.chroma_tolerance`) is a shadow unless it keeps less than this fraction of the
    ground's light (skylight keeps a shadow brighter; a black shoe is darker)."""
    texture: float = 0.7
    """A blob whose brightness correlates with the ground's by at least this much is the ground under other
    light (a shadow that lay there in other frames), not something on it, where the ground has texture to
    tell (its brightness varying over the blob by more than ``noise``)."""
    grow: int = 1
    """Pixels the found blobs grow by: their soft edge, where the colour is only partly the person's."""
    gain_ring: int = 12
    """Pixels beyond the reach where the frame's gain against the ground is measured."""
    slack: int = 2
    """A moving camera's frame is compared with any of the ground's colours within this many pixels: chained
    homographies put a frame a pixel or two off the canvas along a pan, and a striped wall's edges, a
    pixel off, disagreed."""
    shadows: ShadowConfig = field(default_factory=ShadowConfig)


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _height(person: np.ndarray) -> int:
    rows = np.flatnonzero(person.any(axis=1))
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def reach_of(person: np.ndarray, config: LeftoverConfig = LeftoverConfig()) -> int:
    """The reach in pixels around ``person`` ``(H, W)`` bool."""
    return max(config.least_reach, round(config.reach * _height(person)))


def _distance(person: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32: each pixel's distance from ``person`` (a disc of any radius at one cost)."""
    return cv2.distanceTransform((~person).astype(np.uint8), cv2.DIST_L2, 5)


def near(person: np.ndarray, config: LeftoverConfig = LeftoverConfig()) -> np.ndarray:
    """``(H, W)`` bool: ``person`` ``(H, W)`` bool grown by its reach (the ground there is not summed)."""
    if not person.any():
        return person.copy()
    # Measured in the person's box grown by the reach (a frame's distance transform costs 14 ms at 720p):
    # a pixel farther out lies farther than the reach, and within it a distance is the same as on the frame
    # (the shortest chamfer path between two pixels stays inside their box).
    reach = reach_of(person, config)
    box = bounding_box(person, reach + 1)
    grown = np.zeros(person.shape, bool)
    grown[box] = _distance(person[box]) <= reach
    return grown


@dataclass
class Ground:
    """The ground's statistics: ``mean`` and ``spread`` ``(H, W, 3)`` float32 (8-bit levels) and ``count``
    ``(H, W)``, the frames that saw it away from the people; a moving camera's also ``low`` and ``high``
    ``(H, W, 3)`` float32, each channel's least and greatest mean within :attr:`LeftoverConfig.slack`
    (a colour between them agrees with the ground however far its mean is)."""

    mean: np.ndarray
    spread: np.ndarray
    count: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


class GroundSum:
    """Running sums of the ground each frame sees away from the people being removed (two frame-sized
    float64 sums and a count, whatever the clip length; a moving camera's are canvas-sized)."""

    def __init__(self, height: int, width: int, count: type = np.int32) -> None:
        self.total: np.ndarray = np.zeros((height, width, 3), np.float64)
        self.squares: np.ndarray = np.zeros((height, width, 3), np.float64)
        self.count: np.ndarray = np.zeros((height, width), count)

    def add(self, colour: np.ndarray, seen: np.ndarray, box: tuple[slice, slice] | None = None) -> None:
        """``colour`` ``(h, w, 3)`` uint8 where ``seen`` ``(h, w)`` bool (see :func:`away_from`), over ``box``
        (``None``: the whole sums)."""
        mask = seen.astype(np.uint8)
        if box is None:
            cv2.accumulate(colour, self.total, mask)
            cv2.accumulateSquare(colour, self.squares, mask)
            self.count += seen
            return
        accumulate_in(self.total, box, colour, mask)
        accumulate_in(self.squares, box, colour, mask, cv2.accumulateSquare)
        self.count[box] += seen

    def moved(self, matrix: np.ndarray, size: tuple[int, int]) -> GroundSum:
        """The sums carried onto another canvas of ``size`` (width, height) by ``matrix`` (old pixels -> new),
        bilinearly, as the clean plate's are: a pixel's sums mix its neighbours' (their spread with them),
        so its count is fractional (float32)."""
        moved = GroundSum(size[1], size[0], np.float32)
        moved.total = cv2.warpPerspective(self.total, matrix, size, flags=cv2.INTER_LINEAR)
        moved.squares = cv2.warpPerspective(self.squares, matrix, size, flags=cv2.INTER_LINEAR)
        moved.count = cv2.warpPerspective(self.count.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR)
        return moved

    def ground(self) -> Ground:
        """The statistics, frame-sized (a 720p frame's take 150 ms: a search needs only :meth:`within` its box)."""
        return self.within((slice(None), slice(None)))

    def within(self, box: tuple[slice, slice]) -> Ground:
        """The statistics over ``box`` alone, ``(h, w, 3)`` and ``(h, w)``: the same values as :meth:`ground`'s
        there, without its frame-sized arrays."""
        mean, spread = _mean_and_spread(self.total[box], self.squares[box], self.count[box])
        return Ground(mean, spread, self.count[box].copy())

    def seen_from(self, box: tuple[slice, slice], to_canvas: np.ndarray, config: LeftoverConfig) -> Ground:
        """The statistics of a moving camera's canvas as a frame sees them over its ``box`` (frame pixels),
        given ``to_canvas`` (frame pixels -> canvas pixels): mean and spread warped bilinearly from the
        canvas box the frame's box reads, the count kept only where every canvas pixel warped into the
        frame's pixel is :func:`trusted` (0 elsewhere)."""
        rows, cols = box
        size = (cols.stop - cols.start, rows.stop - rows.start)
        height, width = self.count.shape
        there = reading_box(box, to_canvas, (width, height))
        if there[0].start >= there[0].stop or there[1].start >= there[1].stop:
            nothing = np.zeros((size[1], size[0], 3), np.float32)
            return Ground(nothing, nothing.copy(), nothing[..., 0].copy())
        ground = self.within(there)
        # Canvas box pixels -> frame box pixels.
        to_frame = shifted(np.linalg.inv(to_canvas), rows, cols) @ np.array(
            [[1, 0, there[1].start], [0, 1, there[0].start], [0, 0, 1]], np.float64
        )
        known = trusted(ground.count, ground.spread, config)
        count = cv2.warpPerspective(ground.count.astype(np.float32), to_frame, size, flags=cv2.INTER_LINEAR)
        count[~warp_masks([known], to_frame, size)[0]] = 0
        mean = cv2.warpPerspective(ground.mean, to_frame, size, flags=cv2.INTER_LINEAR)
        spread = cv2.warpPerspective(ground.spread, to_frame, size, flags=cv2.INTER_LINEAR)
        # Unknown ground's mean is 0: next to it the range only widens (fewer pixels disagree).
        disc = _disc(config.slack)
        return Ground(mean, spread, count, cv2.erode(mean, disc), cv2.dilate(mean, disc))


def _mean_and_spread(total: np.ndarray, squares: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pixel's mean and standard deviation ``(..., 3)`` float32 from its running ``total`` and sum of
    ``squares`` ``(..., 3)`` float64 over ``count`` ``(...)`` frames (none counts as one: zeros), computed in
    float64."""
    frames = np.maximum(count, 1)[..., None].astype(np.float64)
    mean = total / frames
    return mean.astype(np.float32), np.sqrt(np.maximum(squares / frames - mean * mean, 0.0)).astype(np.float32)


def person_masks(stack: LayerStack, instance_id: int) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W)`` bool: the person's matte (alpha above 0.5) and every other person's layer (alpha above 0)."""
    index = stack.index_of(instance_id)
    alpha = stack.alpha.cpu().numpy()
    others = [plane for plane in range(1, alpha.shape[0]) if plane != index]
    other = np.zeros(alpha.shape[1:], bool)
    if others:
        other = np.any(alpha[others] > 0, axis=0)
    person: np.ndarray = alpha[index] > 0.5
    return person, other


def away_from(
    stack: LayerStack, instance_ids: Iterable[int], seen: np.ndarray, config: LeftoverConfig = LeftoverConfig()
) -> np.ndarray:
    """``seen`` ``(H, W)`` bool less the pixels within reach of the named people (those present): where this
    frame shows the ground for :meth:`GroundSum.add`."""
    away = seen.copy()
    for instance_id in instance_ids:
        if instance_id in stack.ids:
            away &= ~near(person_masks(stack, instance_id)[0], config)
    return away


def trusted(count: np.ndarray, spread: np.ndarray, config: LeftoverConfig = LeftoverConfig()) -> np.ndarray:
    """``(H, W)`` bool: where the ground (its ``(H, W)`` count and ``(H, W, 3)`` spread) is known well enough."""
    return (count >= config.frames) & (_largest(spread) <= config.steady)


def disagrees(colour: np.ndarray, mean: np.ndarray, spread: np.ndarray, config: LeftoverConfig = LeftoverConfig()) -> np.ndarray:
    """``(...)`` bool: whether ``colour`` ``(..., 3)`` is farther from the ground's ``mean`` ``(..., 3)`` than
    ``distance`` of its ``spread`` ``(..., 3)`` (at least ``noise``) in some channel."""
    return _largest(np.abs(colour.astype(np.float32) - mean) / np.maximum(spread, config.noise)) > config.distance


def _shadow_like(colour: np.ndarray, mean: np.ndarray, config: LeftoverConfig) -> np.ndarray:
    """``(n,)`` bool: ``(n, 3)`` float colours that are their ground ``mean`` in shadow."""
    light, ground = _channel_sum(colour), _channel_sum(mean) + 1e-3
    ratio = light / ground
    chroma = _largest(np.abs(colour[:, :2] / np.maximum(light, 1e-3)[:, None] - mean[:, :2] / ground[:, None]))
    return (ratio <= config.shadows.darker_than) & (ratio >= config.deepest) & (chroma <= config.shadows.chroma_tolerance)


def _texture_kept(here: np.ndarray, mean: np.ndarray, config: LeftoverConfig) -> bool:
    """Whether a blob's ``(n, 3)`` colours ``here`` show the texture of the ground's ``mean`` ``(n, 3)``
    there (the normalised cross-correlation of their brightness), on ground with texture to tell."""
    x, y = here.sum(axis=1), mean.sum(axis=1)
    x, y = x - x.mean(), y - y.mean()
    # Three channels' worth of noise: a ground flatter than that has no texture to keep.
    if (y * y).mean() <= 3 * config.noise**2:
        return False
    return bool((x * y).sum() > config.texture * np.sqrt((x * x).sum() * (y * y).sum()))


def search_box(person: np.ndarray, config: LeftoverConfig = LeftoverConfig()) -> tuple[slice, slice]:
    """The box :func:`find_leftovers` reads around ``person`` ``(H, W)`` bool (not empty): twice the reach,
    the gain's ring and the growth around them."""
    return bounding_box(person, 2 * reach_of(person, config) + config.gain_ring + config.grow)


def find_leftovers(
    colour: np.ndarray,
    hidden: np.ndarray,
    person: np.ndarray,
    others: np.ndarray,
    ground: Ground,
    config: LeftoverConfig = LeftoverConfig(),
    spare: np.ndarray | None = None,
) -> np.ndarray:
    """The pixels of a person that their matte missed.

    Args:
        colour: ``(H, W, 3)`` uint8, the frame's background plane (what removal shows).
        hidden: ``(H, W)`` bool, pixels completion fills anyway (the person's matte and its margin).
        person: ``(H, W)`` bool, the person's matte.
        others: ``(H, W)`` bool, other people's layers: never taken, nor crossed.
        ground: the clip's :class:`Ground`, summed away from the people (:func:`away_from`).
        spare: ``(H, W)`` bool or ``None``, pixels left alone (a lifted shadow).

    Returns:
        ``(H, W)`` bool, the leftovers (outside ``hidden``).
    """
    found = np.zeros(person.shape, bool)
    if not person.any():
        return found
    box = search_box(person, config)
    blocked = others[box] if spare is None else others[box] | spare[box]
    low, high = (None if edge is None else edge[box] for edge in (ground.low, ground.high))
    there = Ground(ground.mean[box], ground.spread[box], ground.count[box], low, high)
    found[box] = _leftovers_in(colour[box], hidden[box], person[box], blocked, there, config)
    return found


def _leftovers_in(
    colour: np.ndarray, hidden: np.ndarray, person: np.ndarray, blocked: np.ndarray, ground: Ground, config: LeftoverConfig
) -> np.ndarray:
    """:func:`find_leftovers` over the person's :func:`search_box` (everything it reads), given that box's
    ``(h, w, 3)`` colour, its ``(h, w)`` hidden pixels, the person's matte (all of it) and the ``blocked``
    pixels (other people, what is spared), and its :class:`Ground`; ``(h, w)`` bool."""
    reach = reach_of(person, config)
    body = person | hidden
    distance = _distance(person)
    ring = distance <= reach
    # Disagreement is looked for twice as far: a blob that goes on past the reach is something the person
    # touches (a dog's muzzle, a bag put down), not a part of them.
    band = (distance <= 2 * reach) & ~body & ~blocked
    mean, spread = ground.mean, ground.spread
    known = trusted(ground.count, spread, config)
    # The gain is measured on the ground around the ring, which the person's missed parts do not reach.
    # Only the pixels it is measured on, and those looked at (the candidates: every blob lies in them), are
    # gathered and brought to the ground's exposure: the same values as over the whole box.
    ys, xs = np.nonzero(known & ~blocked & (_distance(body) > 2 * reach + 1))
    reference = np.clip(mean[ys, xs] + 0.5, 0, 255).astype(np.uint8)
    gain = gain_of_samples(reference, colour[ys, xs])
    candidates = band & known
    values = apply_gain(colour[candidates], gain).astype(np.float32)
    ground_values, spread_values = mean[candidates], spread[candidates]
    if ground.low is None or ground.high is None:
        far = disagrees(values, ground_values, spread_values, config)
    else:
        # A moving camera's: measured from the nearest colour the ground shows within the slack.
        far = disagrees(values, np.clip(values, ground.low[candidates], ground.high[candidates]), spread_values, config)
    far &= ~_shadow_like(values, ground_values, config)
    disagree = np.zeros(candidates.shape, bool)
    disagree[candidates] = far
    count, labels, stats, _ = cv2.connectedComponentsWithStats(disagree.astype(np.uint8), connectivity=8)
    touching = np.unique(labels[(cv2.dilate(body.astype(np.uint8), _disc(1)) > 0) & disagree])
    keep = np.zeros(count, bool)
    keep[touching] = True
    # Past the reach, neither disagreeing nor unknown (ground too rarely seen to tell) may go on from a blob.
    beyond = cv2.dilate((band & ~ring & (disagree | ~known)).astype(np.uint8), _disc(1)) > 0
    keep[np.unique(labels[disagree & beyond])] = False
    keep[0] = False
    keep &= stats[:, cv2.CC_STAT_AREA] >= config.area
    if keep.any():
        # A blob's pixels in the candidates' (raster) order, as a mask over the box would gather them.
        candidate_labels = labels[candidates]
        for label in np.flatnonzero(keep):
            blob = candidate_labels == label
            keep[label] = not _texture_kept(values[blob], ground_values[blob], config)
    taken = keep[labels]
    if config.grow > 0 and taken.any():
        taken = (cv2.dilate(taken.astype(np.uint8), _disc(config.grow)) > 0) & ~body & ~blocked
    return taken


class People(NamedTuple):
    """A person being removed in one frame, over ``box`` (:func:`search_box`): their matte and every other
    person's layer there, ``(h, w)`` bool (:func:`person_masks`)."""

    box: tuple[slice, slice]
    person: np.ndarray
    others: np.ndarray


class ClipLeftovers:
    """Leftovers of the people being removed over a clip, for completion
    (:attr:`vmat.editing.completion.CompletionConfig.leftovers`).

    :meth:`add` sums the ground each frame shows away from them as frames come (:class:`GroundSum`,
    whatever the clip length); :meth:`of` finds a frame's leftovers against the ground summed so far
    (completion makes them unseen: filled, and never a donor); :meth:`correct` puts the clean plate right
    where it summed them (the plate is the mean of every frame that saw a pixel, so a toe lying outside the
    matte in some frames is in it): where the ground is trusted and the frames that saw a pixel with the
    people near disagree with it, the plate takes the ground's mean.

    A static camera's sums are on the frames' own grid. A moving camera's (``canvas``, its width and height,
    or after :meth:`move`) are on the clean plate's canvas: :meth:`add` and :meth:`of` then take each frame's
    homography onto it, a frame's ground is warped onto the canvas box it lands on, and the statistics are
    warped back to the frame over the person's search box alone. Chained homographies put frames a pixel or
    two apart along a pan: the spread over such frames is high on the edges of textured ground (not trusted,
    or needing a larger difference), and a misaligned edge goes on past the reach (not a part of the person).
    """

    def __init__(
        self, removing: Iterable[int], config: LeftoverConfig = LeftoverConfig(), canvas: tuple[int, int] | None = None
    ) -> None:
        self.removing, self.config = tuple(removing), config
        self.sums: GroundSum | None = None if canvas is None else GroundSum(canvas[1], canvas[0], np.float32)

    def add(self, stack: LayerStack, colour: np.ndarray, seen: np.ndarray, to_canvas: np.ndarray | None = None) -> None:
        """A frame's layers, its background plane's ``colour`` ``(H, W, 3)`` uint8 and where it is ``seen``;
        ``to_canvas``: its pixels -> the canvas's (a moving camera's), ``None``: the sums are on its grid."""
        away = away_from(stack, self.removing, seen, self.config)
        if to_canvas is None:
            if self.sums is None:
                self.sums = GroundSum(*seen.shape)
            self.sums.add(colour, away)
            return
        if self.sums is None:
            raise ValueError("A frame is carried onto a canvas that ClipLeftovers was not given.")
        height, width = self.sums.count.shape
        landed = onto_canvas(colour, away, to_canvas, (width, height))
        if landed is not None:
            self.sums.add(landed.colour, landed.seen, landed.box)

    def move(self, matrix: np.ndarray, size: tuple[int, int]) -> None:
        """Carry the sums onto another canvas of ``size`` (width, height) by ``matrix`` (old pixels -> new), as
        the clean plate's are moved (a static camera found moving: its frame grid onto the canvas)."""
        self.sums = GroundSum(size[1], size[0], np.float32) if self.sums is None else self.sums.moved(matrix, size)

    def people(self, stack: LayerStack) -> list[People]:
        """What :meth:`of` needs of a frame's layers: each person being removed (present, with a matte),
        over the box their search reads (a one-pass stream keeps this instead of the frame's layers)."""
        found = []
        for instance_id in self.removing:
            if instance_id in stack.ids:
                person, others = person_masks(stack, instance_id)
                if person.any():
                    box = search_box(person, self.config)
                    found.append(People(box, person[box], others[box]))
        return found

    def of(
        self,
        people: list[People],
        colour: np.ndarray,
        seen: np.ndarray,
        spare: np.ndarray | None = None,
        to_canvas: np.ndarray | None = None,
    ) -> np.ndarray:
        """``(H, W)`` bool: a frame's leftovers outside ``~seen`` (what completion fills anyway), given its
        :meth:`people`, its background plane's ``colour`` ``(H, W, 3)`` uint8 and the pixels ``spare`` left
        alone (a lifted shadow), against the ground summed so far; ``to_canvas`` as for :meth:`add`."""
        found = np.zeros(seen.shape, bool)
        if self.sums is None:
            return found
        # Each person's search is done in their box alone (it reads nothing outside it).
        for box, person, others in people:
            blocked = others if spare is None else others | spare[box]
            hidden = ~seen[box] | found[box]
            ground = self.sums.within(box) if to_canvas is None else self.sums.seen_from(box, to_canvas, self.config)
            found[box] |= _leftovers_in(colour[box], hidden, person, blocked, ground, self.config)
        return found

    def correct(self, colour: np.ndarray, total: np.ndarray, count: np.ndarray, box: tuple[slice, slice] | None = None) -> None:
        """Put the plate's ``colour`` ``(H, W, 3)`` uint8 right in place (in ``box``; ``None``: everywhere),
        given its sums: ``total`` ``(H, W, 3)`` and ``count`` ``(H, W)`` over the frames that saw each pixel
        (the same frames' colours as :meth:`add` was given, and more: those near the people).

        The plate takes the ground's mean where the ground is trusted and the frames the plate has beyond it
        (those that saw the pixel with the people near) disagree with it on average: one frame with a toe
        there is enough, a frame with the ground is not."""
        if self.sums is None:
            return
        region = (slice(None), slice(None)) if box is None else box
        seen = self.sums.count[region]
        frames = count[region] - seen
        # Only where the ground is seen in enough frames and the plate has frames beyond them (a band along
        # the people's paths): the ground's statistics are computed there alone, as :meth:`GroundSum.within` does.
        ys, xs = np.nonzero((frames >= 1) & (seen >= self.config.frames))
        if not ys.size:
            return
        ground_total = self.sums.total[region][ys, xs]
        mean, spread = _mean_and_spread(ground_total, self.sums.squares[region][ys, xs], seen[ys, xs])
        beyond = (total[region][ys, xs] - ground_total) / frames[ys, xs][:, None]
        wrong = trusted(seen[ys, xs], spread, self.config) & disagrees(beyond, mean, spread, self.config)
        colour[region][ys[wrong], xs[wrong]] = np.round(mean[wrong]).astype(np.uint8)
