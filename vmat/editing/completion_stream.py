"""Background completion inside a one-pass stream: frames in, completed frames out, bounded memory.

:func:`~vmat.editing.completion.complete_background` reads a clip several times (camera, plate, frames).
:class:`CompletionStream` completes the same way in one pass: each pushed frame's background joins the
clean plate at once, and a frame is completed once ``lookahead`` later frames have been pushed, so its
donors are the ``window`` frames before it and up to ``lookahead`` after it, and its plate is every frame
pushed so far (the past and the look-ahead). The camera motion comes with each frame (e.g. from one
:class:`~vmat.camera.CameraTracker` shared with other stages).

What no frame has seen yet is inpainted on the plate when a frame first needs it, and kept: later frames
carry the same fill with the camera (no boiling), and only canvas that turns up unseen and unfilled (the
edge of a pan) is inpainted later, with the earlier fill as its surroundings. Once some frame sees a
filled pixel, its plate colour takes over; with a static camera, once frames pushed since have seen
``CompletionConfig.refill`` of a region of the fill, what is still unseen there is invented again on the
grown plate, keeping the old fill where the two look alike (so only its structure, a kerb run on, changes).

For a moving camera the plate lives on a canvas twice the frame's size on each axis, centred on an anchor
frame; when the newest frame leaves it, the canvas is re-centred on a recent frame (resampling the plate
once) and what falls off is forgotten. Memory is the pending frames (``lookahead + 1`` layer stacks at the
layers file's precision; of the ``window`` whose shadows are already lifted, the lifted pixels' box and
an ``(H, W)`` bool of which pixels changed), the donors (``window + lookahead + 1`` 8-bit backgrounds) and
the canvas, whatever the clip length; one frame at a time is decoded to floats.

A static camera's frames that show ground every frame's layers hide (``CompletionConfig.agree_frames``)
are read as they arrive too: the agreement's sums over the frames pushed so far, and the last
``lookahead + 1`` frames' composed colour and depth over the box of pixels every frame so far hid (a pixel
whose seed a new frame changes is counted again over them), so its memory is bounded as well. So are the
leftovers' (``CompletionConfig.leftovers``): the ground summed from every frame pushed (two float64 sums and a
count, on the frames' grid, or on the plate's canvas once the camera moves, moved with it), and of each pending
frame the removed people's matte and the other people's layers over the box their search reads; a frame's
leftovers are found when it first serves as a donor.

When the look-ahead covers the clip (``finish`` completes every frame) and the camera is static, the output
is that of :func:`~vmat.editing.completion.complete_background`, bit for bit, given layers at the layers
file's precision (as the pipeline's are; the stream holds its pending frames at it, the whole-clip form
reads what it is given: other float layers differ where they are filled, by half an 8-bit level at most
on the swaying-person test clip).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from vmat.camera import CameraTracker, TrackerConfig, corner_shift, frame_corners
from vmat.editing.completion import (
    _AGREE_REACH,
    _EMPTY,
    _RING_AGREE,
    CompletedFrame,
    _work_box,
    CompletionConfig,
    _Agreement,
    _Camera,
    _fill,
    _invent,
    _leftovers,
    _lift,
    _Lift,
    _lent,
    _lift_lent,
    _Plate,
    _PlateSum,
    _Trail,
    _trailed,
    _unshadowed,
    _untouched,
    _View,
    _view,
    _without_leftovers,
)
from vmat.editing.fill_memory import FillMemory
from vmat.editing.leftovers import ClipLeftovers, People
from vmat.editing.shadows import near_people
from vmat.editing.warping import reading_box
from vmat.geometry import bounding_box, within
from vmat.layers.compositing import tensor_to_image
from vmat.layers.errors import LayerError
from vmat.layers.stack import LayerStack
from vmat.layers.store import decode_stack, encode_stack


_ALIKE, _ALIKE_SIZE = 12.0, 7  # a fill invented again keeps the old one where they look alike (_keep_alike)


def _union(boxes: Iterable[tuple[slice, slice]]) -> tuple[slice, slice]:
    rows, cols = zip(*boxes)
    return (
        slice(min(r.start for r in rows), max(r.stop for r in rows)),
        slice(min(c.start for c in cols), max(c.stop for c in cols)),
    )


def _relit(view: _View, stack: LayerStack, changed: np.ndarray) -> _View:
    """``view`` of a frame after its shadows were lifted (``stack``, ``changed`` pixels): only the changed
    box is converted again."""
    if not changed.any():
        return view
    rows, cols = bounding_box(changed)
    colour = view.colour.copy()
    colour[rows, cols] = tensor_to_image(stack.colour[0][:, rows, cols])
    return _View(colour, view.seen, mostly=view.mostly)


def _keep_alike(invented: np.ndarray, old: np.ndarray, where: np.ndarray) -> None:
    """Put ``old``'s pixels back into ``invented`` (both ``(H, W, 3)`` uint8, in place) in ``where``, the
    part of a fill invented again, wherever the two look alike around a pixel (their means over
    ``_ALIKE_SIZE`` px squares within ``_ALIKE`` levels): a new invention's texture differs everywhere from
    the old's, and taken whole it jumps from one frame to the next; taken only where its structure differs
    (a kerb it now runs on), the rest stays still."""
    if not where.any():
        return
    box = bounding_box(where, _ALIKE_SIZE)
    before = invented[box].copy()
    before[where[box]] = old[box][where[box]]
    size = (_ALIKE_SIZE, _ALIKE_SIZE)
    difference = np.abs(cv2.blur(invented[box].astype(np.float32), size) - cv2.blur(before.astype(np.float32), size))
    alike = where[box] & (difference.max(axis=2) <= _ALIKE)
    invented[box][alike] = before[alike]


def _resampled(sums: _PlateSum, matrix: np.ndarray, size: tuple[int, int]) -> _PlateSum:
    """``sums`` moved onto another canvas by ``matrix`` (old canvas pixels -> new)."""
    moved = _PlateSum(*size)
    moved.total = cv2.warpPerspective(sums.total, matrix, size, flags=cv2.INTER_LINEAR)
    moved.count = cv2.warpPerspective(sums.count, matrix, size, flags=cv2.INTER_LINEAR)
    moved.covered = cv2.warpPerspective(sums.covered.astype(np.uint8), matrix, size, flags=cv2.INTER_NEAREST) > 0
    return moved


class _OnlinePlate:
    """The clean plate (and the ground seen away from the removed people) summed as frames arrive, and
    the never-seen fill, made where needed and kept."""

    def __init__(self, size: tuple[int, int], shadows: bool) -> None:
        self.size = size
        self.sums = _PlateSum(*size)
        self.away_sums = _PlateSum(*size) if shadows else None
        self.filled = np.zeros((size[1], size[0], 3), np.uint8)
        self.has_fill = np.zeros((size[1], size[0]), bool)
        self.refilled = np.zeros((size[1], size[0]), bool)  # invented again once: never again (one jump at most)
        self.static = True  # the canvas is the frames' own grid (a still camera): fills are invented again
        self.leftovers: ClipLeftovers | None = None  # the plate is put right where these summed leftovers

    def colour(self, box: tuple[slice, slice] | None = None) -> _Plate:
        """The plate summed so far (its colour only in ``box``), put right where it summed leftovers."""
        plate = self.sums.plate(box)
        if self.leftovers is not None:
            self.leftovers.correct(plate.colour, self.sums.total, self.sums.count, box)
        return plate

    def add(self, view: _View, to_canvas: np.ndarray | None) -> None:
        """Add a frame's view; ``to_canvas`` ``None``: the canvas is the frame's own grid."""
        if to_canvas is None:
            self.sums.add(view.colour, view.seen)
            if self.away_sums is not None and view.away is not None:
                self.away_sums.add(view.colour, view.away)
        else:
            self.sums.add_warped(view.colour, view.seen, to_canvas)
            if self.away_sums is not None and view.away is not None:
                self.away_sums.add_warped(view.colour, view.away, to_canvas)

    def move(self, matrix: np.ndarray, size: tuple[int, int]) -> None:
        """Move everything onto another canvas by ``matrix`` (old canvas pixels -> new)."""
        self.size, self.static = size, False
        self.sums = _resampled(self.sums, matrix, size)
        if self.away_sums is not None:
            self.away_sums = _resampled(self.away_sums, matrix, size)
        self.filled = cv2.warpPerspective(self.filled, matrix, size, flags=cv2.INTER_LINEAR)
        self.has_fill = cv2.warpPerspective(self.has_fill.astype(np.uint8) * 255, matrix, size) == 255
        self.refilled = np.zeros((size[1], size[0]), bool)  # a moving camera's fill is not invented again

    def plate(self, config: CompletionConfig, box: tuple[slice, slice] | None) -> _Plate:
        """The plate now, its colours only in ``box`` (canvas pixels; ``None``: everywhere); with
        ``never_seen="exemplar"``, first inpainted wherever no frame has seen it and nothing filled it yet."""
        plate = self.colour(box)
        if config.never_seen == "exemplar":
            dropped = None
            if self.static and config.refill is not None:
                dropped = self._drop_stale(plate.seen, config.refill)
            todo = plate.never_seen & ~self.has_fill
            if todo.any():
                colour = self.colour().colour
                known = np.where(self.has_fill[..., None], self.filled, colour)
                patch = config.inpainting.patch
                if self.has_fill.any() and not cv2.erode(todo.astype(np.uint8), np.ones((patch, patch), np.uint8)).any():
                    # A sliver next to the fill (the edge of a pan, a frame at a time): thinner than a
                    # patch, diffusion across it is as good, and costs milliseconds instead of a search.
                    around = bounding_box(todo, 2 * config.inpaint_radius)
                    unknown = ~(plate.seen | self.has_fill)[around]
                    invented = cv2.inpaint(
                        np.ascontiguousarray(known[around]), unknown.astype(np.uint8), config.inpaint_radius, cv2.INPAINT_TELEA
                    )
                    self.filled[around][todo[around]] = invented[todo[around]]
                else:
                    invented = _invent(known, todo, plate.seen | self.has_fill, config)
                    if dropped is not None:
                        _keep_alike(invented, self.filled, dropped & todo)
                    self.filled[todo] = invented[todo]
                self.has_fill |= todo
            region = (slice(None), slice(None)) if box is None else box
            plate.filled = np.zeros_like(plate.colour)
            # Once seen, a pixel's plate colour replaces its fill.
            fill_here = (self.has_fill & ~plate.seen)[region]
            plate.filled[region] = np.where(fill_here[..., None], self.filled[region], plate.colour[region])
        return plate

    def _drop_stale(self, seen: np.ndarray, fraction: float) -> np.ndarray | None:
        """Forget the fill of each region of it that frames have since seen at least ``fraction`` of, so
        that what is still unseen there is invented again next to the ground they showed (the first
        fill, made before they were pushed, may break a kerb they show running on under a foot). A region
        is invented again once at most: counted afresh on its unseen rest, it would jump again each time
        frames saw another ``fraction`` of that rest."""
        first = self.has_fill & ~self.refilled
        stale = first & seen
        if not stale.any():
            return None
        box = bounding_box(first)
        count, labels = cv2.connectedComponents(first[box].astype(np.uint8), connectivity=8)
        size = np.bincount(labels.ravel(), minlength=count)
        again = np.bincount(labels[stale[box]], minlength=count) >= fraction * size
        again[0] = False
        if not again.any():
            return None
        dropped = np.zeros_like(self.has_fill)
        dropped[box] = again[labels] & ~seen[box]
        self.has_fill[box] &= ~again[labels]
        self.refilled[box] |= again[labels]
        return dropped

    def away(self, box: tuple[slice, slice] | None) -> _Plate | None:
        return None if self.away_sums is None else self.away_sums.plate(box)


class _OnlineAgreement:
    """A static camera's :class:`~vmat.editing.completion._Agreement` summed as frames arrive.

    Each frame is counted against the seeds so far; where a frame changes a pixel's seed, that pixel is
    counted again over the last ``keep`` frames (their shown colour and depth over the agreement's box,
    as the stream holds its pending frames), so with every frame kept the sums are the whole clip's.
    A pixel trusted with a colour keeps that colour while no frame saw it and its seed still shows it,
    so that new evidence does not make it flicker."""

    def __init__(self, height: int, width: int, keep: int) -> None:
        self.sums = _Agreement(height, width)
        self.frames: deque[tuple[np.ndarray, np.ndarray, tuple[slice, slice]]] = deque(maxlen=keep)
        self.agreed: tuple[np.ndarray, np.ndarray] | None = None  # the last result; None: new frames since
        self.kept: tuple[np.ndarray, np.ndarray] | None = None  # the result before them

    def add(self, stack: LayerStack, seen: np.ndarray) -> None:
        sums = self.sums
        first = sums.first(stack, seen)
        if self.agreed is not None:
            self.kept, self.agreed = self.agreed, None
        if first is None:
            self.frames.clear()
            return
        shown, depth, changed = first
        if changed.any():
            sums.restart(changed)
            at = np.nonzero(changed)
            for old_shown, old_depth, box in self.frames:
                inner = within(sums.box, box)
                sums.tally(old_shown[inner][at], old_depth[inner][at], at)
        sums.tally(shown, depth)
        self.frames.append((shown, depth, sums.box))

    def result(self, plate: _OnlinePlate, least: int) -> tuple[np.ndarray, np.ndarray]:
        """The agreed colour ``(H, W, 3)`` uint8 and ``(H, W)`` bool where it is trusted, from every frame so far."""
        if self.agreed is not None:
            return self.agreed
        sums = self.sums
        # The plate's colour is read within _AGREE_REACH + 2 px of the agreement's box.
        (rows, cols), (width, height), reach = sums.box, plate.size, _AGREE_REACH + 2
        around = (
            slice(max(0, rows.start - reach), min(height, rows.stop + reach)),
            slice(max(0, cols.start - reach), min(width, cols.stop + reach)),
        )
        ground = plate.colour(around)
        colour, trusted = sums.result(ground.seen, ground.colour, least)
        if self.kept is not None and sums.hidden.any():
            kept_colour, kept = (image[sums.box] for image in self.kept)
            shows = np.abs(kept_colour.astype(np.int16) - sums.seed).max(axis=2) <= _RING_AGREE
            held = kept & sums.hidden & shows
            now_colour, now = colour[sums.box], trusted[sums.box]
            stay = held & (~now | (np.abs(now_colour.astype(np.int16) - kept_colour).max(axis=2) <= _RING_AGREE))
            now_colour[stay] = kept_colour[stay]
            now |= stay
        self.agreed = colour, trusted
        return self.agreed


class CompletionStream:
    """Completes each frame's background plane as frames arrive (see the module's docstring).

    ``push(stack, camera)`` takes the next frame's layers and ``camera``, the ``(3, 3)`` homography from
    the previous frame's pixels to this frame's (``None`` on the first frame, or when unknown: the last
    motion is assumed, as :func:`~vmat.editing.completion.complete_background` does), and returns the
    frames it has finished, in order, ``lookahead`` frames behind; ``finish()`` returns the rest. Given a
    ``tracker``, the stream tracks the camera itself on each frame's visible background instead.
    """

    def __init__(
        self,
        config: CompletionConfig = CompletionConfig(),
        *,
        removing: Iterable[int] = (),
        keep_shadows: bool = False,
        lookahead: int | None = None,
        tracker: CameraTracker | None = None,
        leave_staying: bool = False,
    ) -> None:
        """
        Args:
            config: completion settings (``window`` frames before each frame are its donors, and up to
                ``window`` after it within the look-ahead).
            removing: ids of the people about to be removed or moved: their shadows are lifted.
            keep_shadows: leave the shadows of ``removing`` where they are.
            lookahead: frames pushed after a frame before it is completed (default ``config.lookahead``).
            tracker: tracks the camera on each pushed frame's visible background (then ``push`` takes
                no ``camera``).
            leave_staying: change the background only where ``removing`` hide or mark it
                (:func:`~vmat.editing.completion.complete_background`).
        """
        lookahead = config.lookahead if lookahead is None else lookahead
        if config.window < 0 or lookahead < 0:
            raise LayerError(
                f"The completion window and look-ahead must be 0 or more frames, got {config.window} and {lookahead}."
            )
        self.config, self.lookahead, self.tracker = config, lookahead, tracker
        self._shadowed = () if keep_shadows else tuple(removing)
        # Leftovers (CompletionConfig.leftovers): the ground summed from every frame pushed, on the frames'
        # grid while the camera is still, on the plate's canvas once it moves.
        self._removing = tuple(removing)
        self._trail = _Trail(self._removing, config)
        self._leave_staying = leave_staying
        self._leftovers = _leftovers(config, removing)
        # Pending frames are finished (shadows lifted, leftovers found) ahead of their turn, as donors.
        self._finishing = bool(self._shadowed) or self._leftovers is not None
        # Frames waiting for their look-ahead, held as the layers file holds them (8-bit colour, 16-bit
        # alpha, each person over their alpha's box): a tenth of the floats' memory at 720p.
        self._pending: deque[tuple[int, dict[str, np.ndarray]]] = deque()
        self._donors: dict[int, _View] = {}  # views donors are taken from (shadows lifted), by frame
        self._lifted: dict[int, _Lift] = {}  # what lifting changed in pending frames already lifted
        self._unlifted: dict[int, _View] = {}  # pending frames' views before their shadows are lifted (and leftovers found)
        self._people: dict[int, list[People]] = {}  # what finding their leftovers needs of their layers
        self._from_first: dict[int, np.ndarray] = {}  # frame 0 pixels -> frame pixels, for live frames
        self._motion = np.eye(3)
        self._static = config.camera != "moving"
        self._anchor = np.eye(3)  # frame 0 pixels -> canvas pixels
        self._plate: _OnlinePlate | None = None
        self._memory = FillMemory()  # the last completed frame's fill decisions, for the next one
        self._agreement: _OnlineAgreement | None = None  # a static camera's, from the first frame on
        self._size: tuple[int, int] | None = None
        self._count = 0

    def push(self, stack: LayerStack, camera: np.ndarray | None = None) -> list[CompletedFrame]:
        """Add the next frame; the frames finished now, in order."""
        view = _view(stack, self.config)
        if self.tracker is not None:
            if camera is not None:
                raise LayerError("This completion stream tracks the camera itself; push frames without a camera motion.")
            camera = self.tracker.update(view.colour, view.seen)
        return self._push(stack, view, camera)

    def finish(self) -> list[CompletedFrame]:
        """Complete the frames still waiting for their look-ahead (the stream can be pushed to again)."""
        return list(self.drain())

    def drain(self) -> Iterator[CompletedFrame]:
        """:meth:`finish` one frame at a time: each is completed when the iterator is advanced, so a caller
        that passes them on holds one instead of ``lookahead`` completed frames in floats."""
        while self._pending:
            yield self._emit()

    def _push(self, stack: LayerStack, view: _View, camera: np.ndarray | None) -> list[CompletedFrame]:
        index = self._count
        size = (stack.width, stack.height)
        if self._size is None:
            self._size = size
            self._plate = _OnlinePlate(size, bool(self._shadowed))
            if self.config.agree_frames is not None and self._static:
                self._agreement = _OnlineAgreement(size[1], size[0], self.lookahead + 1)
            if not self._static:
                self._leftovers = _leftovers(self.config, self._removing, size)
        elif size != self._size:
            raise LayerError(f"Frame {index} is {size[0]}x{size[1]}, the stream's frames are {self._size[0]}x{self._size[1]}.")
        self._count += 1
        if index == 0:
            from_first = np.eye(3)
        else:
            if camera is not None and self.config.camera != "static":
                self._motion = np.asarray(camera, np.float64)
            from_first = self._motion @ self._from_first[index - 1]
        self._from_first[index] = from_first
        if self._static and self.config.camera == "auto" and corner_shift(from_first, *size) > self.config.static_tolerance:
            self._start_moving()
        if self._static:
            # The frames pushed before the camera is seen to move keep their trail out of the plate; the
            # whole-clip completion sums a moving camera's plate with it (they differ only where a fast limb
            # trailed in those first frames). A stream that moves never stops moving: the trail, no longer
            # used, is no longer computed.
            view = _trailed(view, self._trail(stack))
        if self._shadowed:
            view.away = view.seen & ~near_people(stack, self._shadowed, self.config.shadows)
        self._place(index)
        self._plate.add(view, None if self._static else self._to_canvas(index))
        if self._agreement is not None:
            self._agreement.add(stack, view.seen)
        if self._leftovers is not None:
            self._leftovers.add(stack, view.colour, view.seen, None if self._static else self._to_canvas(index))
            self._plate.leftovers = self._leftovers
            self._people[index] = self._leftovers.people(stack)
        if self._finishing:
            self._unlifted[index] = view
        else:
            self._donors[index] = view
        self._pending.append((index, encode_stack(stack)))
        done = []
        while self._pending and index - self._pending[0][0] >= self.lookahead:
            done.append(self._emit())
        return done

    def _to_canvas(self, index: int) -> np.ndarray:
        return self._anchor @ np.linalg.inv(self._from_first[index])

    def _canvas_around(self, from_first: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """The canvas centred on the frame whose pixels are ``from_first`` frame 0's: frame 0 pixels -> its
        pixels, and its size."""
        width, height = self._size
        shift = np.array([[1.0, 0.0, width // 2], [0.0, 1.0, height // 2], [0.0, 0.0, 1.0]])
        return shift @ from_first, (width + 2 * (width // 2), height + 2 * (height // 2))

    def _start_moving(self) -> None:
        """The camera has moved: the plate summed on frame 0's grid (every frame so far was within the
        static tolerance of it) goes onto a canvas around frame 0."""
        self._static = False
        self._agreement = None
        self._anchor, size = self._canvas_around(np.eye(3))
        self._plate.move(self._anchor, size)
        if self._leftovers is not None:
            self._leftovers.move(self._anchor, size)

    def _fits(self, index: int, anchor: np.ndarray) -> bool:
        corners = cv2.perspectiveTransform(frame_corners(*self._size), anchor @ np.linalg.inv(self._from_first[index]))[:, 0]
        return bool(np.all(corners >= 0) and np.all(corners <= np.array(self._plate.size) - 1))

    def _place(self, index: int) -> None:
        """Re-centre the canvas when frame ``index`` does not fit on it: on the frame halfway between the
        next frame to complete and this one, or on this one when even that leaves it off."""
        if self._static or self._fits(index, self._anchor):
            return
        oldest = self._pending[0][0] if self._pending else index
        for centre in ((oldest + index) // 2, index):
            anchor, size = self._canvas_around(self._from_first[centre])
            if centre == index or self._fits(index, anchor):
                break
        self._plate.move(anchor @ np.linalg.inv(self._anchor), size)
        if self._leftovers is not None:
            self._leftovers.move(anchor @ np.linalg.inv(self._anchor), size)
        self._anchor = anchor

    def _camera(self, frames: range) -> _Camera:
        if self._static:
            return _Camera(True, {k: np.eye(3) for k in frames}, self._size)
        return _Camera(False, {k: self._to_canvas(k) for k in frames}, self._plate.size)

    def _canvas_box(self, box: tuple[slice, slice], to_canvas: np.ndarray) -> tuple[slice, slice]:
        """The canvas pixels a frame's ``box`` reads when warped from the canvas (bilinear: a pixel more)."""
        return reading_box(box, to_canvas, self._plate.size)

    def _emit(self) -> CompletedFrame:
        index, held = self._pending.popleft()
        newest = self._count - 1
        frames = range(max(0, index - self.config.window), min(newest, index + self.config.window) + 1)
        # The camera reaches the frame before too, even with no window: the seam's difference is carried
        # from it (FillMemory), as the whole clip does.
        camera = self._camera(range(max(0, index - max(self.config.window, 1)), frames.stop))
        away = None
        lifting = [k for k in frames if k >= index and k not in self._lifted]
        if self._shadowed and lifting:
            # Shadows are looked for only near the people (static camera: the plate is needed only there).
            grounds = (self._unlifted[k].away for k in lifting)
            near = [bounding_box(~ground) for ground in grounds if ground is not None and not ground.all()]
            away = self._plate.away((_union(near) if near else _EMPTY) if self._static else None)
        current = decode_stack(held, *self._size)
        if self._finishing:
            for k, pending in ((index, held), *self._pending):
                if k not in frames:
                    break
                if k in self._lifted:
                    continue
                finished = self._unlifted.pop(k)
                if self._shadowed:  # with nothing to lift, no frame is decoded ahead of its turn
                    unlifted = current if k == index else decode_stack(pending, *self._size)
                    stack, changed = _lift(unlifted, self._shadowed, self.config, away, camera, k)
                    self._lifted[k] = _Lift.of(stack, changed)
                    finished = _relit(finished, stack, changed)
                else:
                    changed = np.zeros(finished.seen.shape, bool)
                    self._lifted[k] = _Lift(changed, _EMPTY, None)
                people = self._people.pop(k, [])
                to_canvas = None if self._static else camera.to_canvas[k]
                self._donors[k] = _unshadowed(_without_leftovers(finished, people, changed, self._leftovers, to_canvas), changed)
        # The frame's box is that of its final view: leftovers it no longer sees are completed too.
        view = self._donors[index]
        box = _EMPTY if view.seen.all() else _work_box(view, self.config)
        plate = self._plate.plate(self.config, box if self._static else self._canvas_box(box, camera.to_canvas[index]))
        lift = self._lifted.pop(index, None)
        if lift is None:
            lifted, shadow = current, np.zeros((current.height, current.width), bool)
        else:
            lifted, shadow = lift.applied(current), lift.changed
        for k in [k for k in self._donors if k < index - self.config.window]:
            del self._donors[k]
        for k in [k for k in self._from_first if k < index - max(self.config.window, 1) and k < newest]:
            del self._from_first[k]
        window = {k: self._donors[k] for k in frames}
        agreed = None if self._agreement is None else self._agreement.result(self._plate, self.config.agree_frames or 0)
        kept = _untouched(lifted, self._removing, shadow, self.config) if self._leave_staying else None
        done = _fill(index, lifted, window, camera, plate, shadow, self.config, self._memory, agreed, kept)
        if not self._shadowed or not _lent(done.source).any():
            return done  # the ground seen away, a whole canvas on a moving camera, is not summed for nothing
        # What other frames lent under the removed people may hold their shadow: lifted as the whole clip does
        # (static camera: the ground seen away from them is needed only where their shadows are looked for).
        searched = near_people(lifted, self._shadowed, self.config.shadows)
        away = self._plate.away((bounding_box(searched) if searched.any() else _EMPTY) if self._static else None)
        return _lift_lent(done, self._shadowed, self.config, away, camera, index)


def complete_stream(
    stacks: Iterable[LayerStack],
    config: CompletionConfig = CompletionConfig(),
    *,
    removing: Iterable[int] = (),
    keep_shadows: bool = False,
    lookahead: int | None = None,
    leave_staying: bool = False,
) -> Iterator[CompletedFrame]:
    """Complete a clip in one pass with a :class:`CompletionStream` that tracks the camera itself (a
    :class:`~vmat.camera.CameraTracker`; none for ``camera="static"``). ``stacks`` may be a generator."""
    tracker = None if config.camera == "static" else CameraTracker(TrackerConfig(max_features=config.max_features))
    stream = CompletionStream(
        config, removing=removing, keep_shadows=keep_shadows, lookahead=lookahead, tracker=tracker, leave_staying=leave_staying
    )
    for stack in stacks:
        yield from stream.push(stack)
    yield from stream.drain()
