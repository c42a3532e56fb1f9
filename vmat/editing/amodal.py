"""Completing people where a person an edit takes away from in front of them hid them.

A layer stack knows a person only where the camera saw them: behind someone else their own alpha is 0
(:mod:`vmat.layers.stack`). Removing the person in front then shows background through the one behind,
who looks cut; so does a person brought to the front by a swap. Here each such person is completed there
from their own appearance in nearby frames that saw those pixels, each carried to the present with the
person's motion. The motion is one translation per frame pair, found by matching the person's seen pixels
(their alpha and colour, compared only where both frames saw them) between consecutive frames, and summed
between frames; where a person cannot be followed, the chain ends. That suits the case that leaves most of
a person hidden: someone standing or sitting behind another. A limb that moved since it was seen is carried
with the body, not with its own motion; where that disagrees with what the present frame shows just
outside the hidden region, the sighting is refused.

Only what another frame saw is filled (the nearest in time wins, including a sighting of background,
which stops farther ones), and only what joins the part of the person this frame sees. The frames looked
at are ``AmodalConfig.memory_frames`` before and ``lookahead`` after: a frame in which someone is hidden
comes back ``lookahead`` pushes later (others as soon as the frames before them are back), so memory is
bounded by the two.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator
from itertools import zip_longest
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from vmat.layers.stack import BACKGROUND_ID, LayerStack
from vmat.layers.store import decode_stack, decodes_to, encode_stack


@dataclass(frozen=True)
class AmodalConfig:
    """How people hidden by the uncovering ones (removed, moved or swapped) are completed."""

    memory_frames: int = 24
    """How many earlier frames of each person are remembered (about a second)."""
    lookahead: int = 12
    """How many later frames are waited for (a frame comes back this many pushes later): a person hidden now
    and seen soon after is completed from those frames too."""
    search: float = 0.1
    """The largest motion between two frames looked for, as a share of the person's box height (at least 4 px)."""
    revealed_above: float = 0.5
    """Coverage by the uncovering people above which a hidden pixel of a person behind them is completed."""
    seen_below: float = 0.02
    """Coverage by anyone in front below which a person's pixel counts as seen."""
    min_shared: float = 0.3
    """The share of a remembered frame's seen pixels the present frame must also see for its motion to be trusted."""
    contradiction_reach: float = 0.08
    """How far (a share of the person's box height) a sighting is refused around a place just outside the hidden
    region where it disagrees with the present frame (a limb that has moved since)."""


@dataclass
class _Sighting:
    """One frame of a person over ``box`` (rows, cols of the frame): what was seen there.

    ``values`` ``(h, w, 4)`` float32 alpha and alpha-premultiplied RGB, ``seen`` ``(h, w)`` bool, and ``step``
    (dy, dx) the person's motion from the frame before to this one (``None``: not followed, so no sighting
    before this one can be carried past it)."""

    box: tuple[int, int, int, int]
    values: np.ndarray
    seen: np.ndarray
    step: np.ndarray | None


@dataclass
class _Pushed:
    """A frame pushed: its layers until it is completed, each person's sighting in it (people with no pixel
    have none), and whether an uncovering person hides someone in it (else it needs no look-ahead).

    ``layers`` is the stack as pushed, or, while the frame waits for its look-ahead, the arrays the layers
    file stores of it (:func:`~vmat.layers.store.encode_stack`: 8-bit colour and 16-bit alpha over each
    person's box, a tenth of the memory) when they give it back exactly, as they do for stacks read from a
    layers file or made by ``vmat run``; ``None`` once completed: the frames kept behind it are read only for
    their sightings."""

    layers: LayerStack | dict[str, np.ndarray] | None
    sightings: dict[int, _Sighting]
    hides: bool

    def compact(self) -> None:
        """Hold a waiting frame's stack as the layers file's arrays, if they give it back exactly."""
        stack = self.layers
        if not isinstance(stack, LayerStack) or stack.alpha.device.type != "cpu":
            return
        arrays = encode_stack(stack)
        if decodes_to(arrays, stack):
            self.layers = arrays

    def take(self) -> LayerStack:
        """The frame's stack, let go of here: it is completed once."""
        layers = self.layers
        assert layers is not None, "a frame is completed once"
        self.layers = None
        if isinstance(layers, LayerStack):
            return layers
        height, width = layers["colour_0"].shape[:2]  # the background plane covers the frame
        return decode_stack(layers, width, height)


@dataclass
class AmodalState:
    """The frames kept: up to ``AmodalConfig.memory_frames`` before the next to complete (``window[next]``), and
    the look-ahead after it."""

    window: deque[_Pushed] = field(default_factory=deque)
    next: int = 0
    filled_pixels: int = 0
    """Pixels completed so far, over all frames and people."""


class AmodalPeople:
    """Push a clip's layer stacks in order; they come back in order, ``AmodalConfig.lookahead`` pushes later
    (:meth:`finish` gives the rest), with every person behind one of ``uncovering`` (removed, moved or swapped
    people) completed where those hid them (see the module docstring), except the people in ``skip`` (those
    an edit drops). A stack with nothing to complete comes back as it is."""

    def __init__(self, uncovering: Collection[int], config: AmodalConfig = AmodalConfig(), skip: Collection[int] = ()) -> None:
        self.uncovering = set(uncovering)
        self.skip = set(skip)
        self.config = config
        self.state = AmodalState()

    def push(self, stack: LayerStack) -> list[LayerStack]:
        """The frames completed now that ``stack`` is known (none, or the one ``lookahead`` pushes before)."""
        if not self.uncovering:
            return [stack]
        window = self.state.window
        before = window[-1].sightings if window else {}
        alpha = stack.alpha.float().numpy()
        colour = stack.colour.float().numpy()
        order = stack.order()
        sightings = {}
        hides = False
        for plane, instance in self._people(stack):
            box = _box(alpha[plane] > 0, self.config.search)
            if box is None:
                continue
            hides = hides or bool(self._hidden(alpha, order, plane, stack.ids)[box].any())
            values = np.concatenate([alpha[plane][..., None], (colour[plane] * alpha[plane]).transpose(1, 2, 0)], axis=-1)
            seen = self._seen(alpha, order, plane)
            step = self._step(before[instance], values, seen) if instance in before else None
            rows, cols = box
            corners = (rows.start, rows.stop, cols.start, cols.stop)
            sightings[instance] = _Sighting(corners, values[rows, cols].copy(), seen[rows, cols].copy(), step)
        window.append(_Pushed(stack, sightings, hides))
        done = []
        next_up = self.state.next
        while next_up < len(window) and (not window[next_up].hides or len(window) - 1 - next_up >= self.config.lookahead):
            done.append(self._complete_next())
            next_up = self.state.next
        if self.state.next < len(window):  # the new frame waits (those before it were compacted when pushed)
            window[-1].compact()
        return done

    def finish(self) -> list[LayerStack]:
        """The frames still waiting for their look-ahead, completed with what there is."""
        done = []
        while self.state.next < len(self.state.window):
            done.append(self._complete_next())
        return done

    def _people(self, stack: LayerStack) -> Iterator[tuple[int, int]]:
        """``(plane, id)`` of the people this completes."""
        for plane, instance in enumerate(stack.ids):
            if instance != BACKGROUND_ID and instance not in self.skip:
                yield plane, instance

    def _hidden(self, alpha: np.ndarray, order: list[int], plane: int, ids: tuple[int, ...]) -> np.ndarray:
        """Where the uncovering people in front of ``plane`` hide it: where they cover it by more than
        ``revealed_above`` and its own alpha is unknown (0), and the 2 px rim of that where they touch it or its own
        alpha is partial. The person's matte ends at the edge of the one in front of it, so along that edge it
        is cut short (where the front person's alpha is under a half the person behind has none of their own,
        and on the next pixel about half): removing the front person would leave a line of background across
        the person behind."""
        in_front = order[: order.index(plane)]
        coverage = _coverage(alpha, [p for p in in_front if ids[p] in self.uncovering])
        own = alpha[plane]
        hidden = (coverage > self.config.revealed_above) & (own <= 0)
        if not hidden.any():
            return hidden
        rim = (cv2.dilate(hidden.astype(np.uint8), _SQUARE_5) > 0) & (own < 1) & ((coverage > self.config.seen_below) | (own > 0))
        return hidden | rim

    def _seen(self, alpha: np.ndarray, order: list[int], plane: int) -> np.ndarray:
        """Where nobody stands in front of ``plane``."""
        return _coverage(alpha, order[: order.index(plane)]) < self.config.seen_below

    def _complete_next(self) -> LayerStack:
        state = self.state
        position = state.next
        stack = state.window[position].take()
        alpha = stack.alpha.float().numpy()
        colour = stack.colour.float().numpy()
        order = stack.order()
        completed_alpha, completed_colour = alpha, colour
        for plane, instance in self._people(stack) if state.window[position].hides else ():
            hidden = self._hidden(alpha, order, plane, stack.ids)
            if not hidden.any():
                continue
            carried = self._carried(position, instance)
            filled = self._fill(carried, hidden, alpha[plane], self._seen(alpha, order, plane))
            if filled is None:
                continue
            if completed_alpha is alpha:
                completed_alpha, completed_colour = alpha.copy(), colour.copy()
            where, own, premultiplied = filled
            completed_alpha[plane][where] = own
            completed_colour[plane][:, where] = (premultiplied / np.maximum(own, 1e-6)[:, None]).T
            state.filled_pixels += int(where.sum())
        state.next += 1
        while state.next > self.config.memory_frames:
            state.window.popleft()
            state.next -= 1
        if completed_alpha is alpha:
            return stack
        return stack.replace(
            alpha=torch.from_numpy(completed_alpha).to(stack.alpha.dtype),
            colour=torch.from_numpy(completed_colour).to(stack.colour.dtype),
        )

    def _carried(self, position: int, instance: int) -> list[tuple[_Sighting, np.ndarray]]:
        """The person's sightings in the other frames kept, each with its shift onto frame ``window[position]``,
        nearest in time first (the earlier of two as near); a frame they were not followed into ends the chain."""
        window = self.state.window

        def walk(direction: int) -> Iterator[tuple[_Sighting, np.ndarray]]:
            shift = np.zeros(2)
            here = position
            while 0 <= here + direction < len(window):
                # The step into the later of the two frames is the motion between them.
                newer = window[max(here, here + direction)].sightings.get(instance)
                there = window[here + direction].sightings.get(instance)
                if newer is None or newer.step is None or there is None:
                    return
                shift = shift + newer.step if direction < 0 else shift - newer.step
                here += direction
                yield there, shift

        earlier, later = list(walk(-1)), list(walk(1))
        return [pair for both in zip_longest(earlier, later) for pair in both if pair is not None]

    def _step(self, before: _Sighting, values: np.ndarray, seen: np.ndarray) -> np.ndarray | None:
        """The person's motion (dy, dx) from the sighting ``before`` to this frame, ``None`` when lost."""
        y0, y1, x0, x1 = before.box
        reach = max(4, round(self.config.search * (y1 - y0)))
        height, width = seen.shape
        # The present frame around the last box, ``reach`` beyond it; what lies outside the frame counts as unseen.
        window = np.zeros((y1 - y0 + 2 * reach, x1 - x0 + 2 * reach, 4), np.float32)
        window_seen = np.zeros(window.shape[:2], np.float32)
        top, left = y0 - reach, x0 - reach
        rows = slice(max(top, 0), min(y1 + reach, height))
        cols = slice(max(left, 0), min(x1 + reach, width))
        inner = (slice(rows.start - top, rows.stop - top), slice(cols.start - left, cols.stop - left))
        window[inner] = values[rows, cols]
        window_seen[inner] = seen[rows, cols]
        found = _translation(before.values, before.seen.astype(np.float32), window, window_seen, self.config.min_shared)
        return None if found is None else np.asarray(found, float) - reach

    def _fill(
        self, carried: list[tuple[_Sighting, np.ndarray]], hidden: np.ndarray, own: np.ndarray, seen: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The hidden pixels the ``carried`` sightings fill, in order, kept where they join the person's solid part in
        this frame (own alpha ``own``, ``seen`` where nobody stands in front): ``(where, own alpha,
        premultiplied colour (N, 3))``, or ``None`` when nothing is filled."""
        height, width = hidden.shape
        visible = own >= 0.5
        # Just outside the hidden region the present frame shows where the person goes on into it.
        ring = (cv2.dilate(hidden.astype(np.uint8), _SQUARE_7) > 0) & ~hidden & seen
        person_core = cv2.erode(visible.astype(np.uint8), _SQUARE_5) > 0
        person_reach = cv2.dilate(visible.astype(np.uint8), _SQUARE_5) > 0
        resolved = np.zeros_like(hidden)
        values = np.zeros((height, width, 4), np.float32)
        for sighting, shift in carried:
            dy, dx = (int(v) for v in np.round(shift))
            y0, y1, x0, x1 = sighting.box
            rows = slice(max(y0 + dy, 0), min(y1 + dy, height))
            cols = slice(max(x0 + dx, 0), min(x1 + dx, width))
            if rows.start >= rows.stop or cols.start >= cols.stop:
                continue
            source = (slice(rows.start - y0 - dy, rows.stop - y0 - dy), slice(cols.start - x0 - dx, cols.stop - x0 - dx))
            take = sighting.seen[source] & hidden[rows, cols] & ~resolved[rows, cols]
            if not take.any():
                continue
            # Where the ring and the sighting disagree by more than 2 px of misregistration (it shows the person
            # where the present frame shows ground, or ground where it shows the person), the body has moved
            # differently there: the sighting is refused around it.
            sighted = sighting.seen[source]
            solid = (sighting.values[source][..., 0] >= 0.5) & sighted
            core = cv2.erode(solid.astype(np.uint8), _SQUARE_5) > 0
            reach = cv2.dilate(solid.astype(np.uint8), _SQUARE_5) > 0
            box = (rows, cols)
            contradicted = ring[box] & sighted & ((core & ~person_reach[box]) | (person_core[box] & ~reach))
            if contradicted.any():
                distance = cv2.distanceTransform((~contradicted).astype(np.uint8), cv2.DIST_L2, 3)
                take &= distance > self.config.contradiction_reach * (y1 - y0)
            values[box][take] = sighting.values[source][take]
            resolved[box] |= take
        # Along the rim the person's own alpha may be partial: a sighting only adds to it.
        person = resolved & (values[..., 0] > own)
        solid = resolved & (values[..., 0] >= 0.5)
        if not solid.any():
            return None
        # Only what joins the seen person's solid part: a sighting carried to the wrong place, or a faint
        # edge of one, must not float free. A solid part's soft rim (2 px) comes with it.
        count, labels = cv2.connectedComponents((solid | visible).astype(np.uint8), connectivity=8)
        joined = np.zeros(count, bool)
        joined[np.unique(labels[visible])] = True
        joined[0] = False
        kept = cv2.dilate((solid & joined[labels]).astype(np.uint8), _SQUARE_5) > 0
        where = person & kept
        if not where.any():
            return None
        return where, values[..., 0][where], values[..., 1:][where]


_SQUARE_5 = np.ones((5, 5), np.uint8)
_SQUARE_7 = np.ones((7, 7), np.uint8)


def _coverage(alpha: np.ndarray, planes: Iterable[int]) -> np.ndarray:
    """``(H, W)`` how much of the light the ``planes`` (own alphas ``alpha[p]``) stop together."""
    transmittance = np.ones(alpha.shape[1:], np.float32)
    for plane in planes:
        transmittance *= 1.0 - alpha[plane]
    return 1.0 - transmittance


def _box(person: np.ndarray, margin: float) -> tuple[slice, slice] | None:
    """The box of the person's pixels, ``margin`` of its height larger on every side (the ground seen around
    them tells where they are not), or ``None`` for no pixel."""
    ys, xs = np.nonzero(person)
    if ys.size == 0:
        return None
    pad = max(4, round(margin * (ys.max() + 1 - ys.min())))
    height, width = person.shape
    return (
        slice(max(int(ys.min()) - pad, 0), min(int(ys.max()) + 1 + pad, height)),
        slice(max(int(xs.min()) - pad, 0), min(int(xs.max()) + 1 + pad, width)),
    )


def _translation(
    template: np.ndarray, template_seen: np.ndarray, window: np.ndarray, window_seen: np.ndarray, min_shared: float
) -> tuple[int, int] | None:
    """``(dy, dx)``: where in ``window`` ``template`` fits best, by the mean squared difference over the pixels
    both saw; ``None`` when no placement shares ``min_shared`` of the template's seen pixels.

    Each term of the masked sum ``sum m_t m_w (x_t - x_w)^2`` is a correlation, so the whole search is four
    ``cv2.matchTemplate`` calls."""
    squares_window = (window * window).sum(axis=-1) * window_seen
    squares_template = (template * template).sum(axis=-1) * template_seen
    shared = cv2.matchTemplate(window_seen, template_seen, cv2.TM_CCORR)
    cross = cv2.matchTemplate(window * window_seen[..., None], template * template_seen[..., None], cv2.TM_CCORR)
    error = (
        cv2.matchTemplate(squares_window, template_seen, cv2.TM_CCORR)
        - 2.0 * cross
        + cv2.matchTemplate(window_seen, squares_template, cv2.TM_CCORR)
    )
    enough = shared >= min_shared * max(float(template_seen.sum()), 1.0)
    if not enough.any():
        return None
    mean = np.where(enough, error / np.maximum(shared, 1.0), np.inf)
    dy, dx = np.unravel_index(int(np.argmin(mean)), mean.shape)
    return int(dy), int(dx)


def complete_people(
    stacks: Iterable[LayerStack],
    uncovering: Collection[int],
    config: AmodalConfig = AmodalConfig(),
    skip: Collection[int] = (),
) -> Iterator[LayerStack]:
    """A clip's layer stacks with the people behind ``uncovering`` completed (see :class:`AmodalPeople`)."""
    people = AmodalPeople(uncovering, config, skip)
    for stack in stacks:
        yield from people.push(stack)
    yield from people.finish()
