"""Instance masks in one ordered pass over a clip: push frames in order, get each frame's id mask back.

:func:`~vmat.propagation.clip.mask_clip` propagates forwards from the first prompted frame, then decodes the
clip again to go backwards from it to frame 0. :class:`MaskStream` makes the same masks while the frames go
by once: the frames up to ``backward_window`` before any prompted frame are held in memory (image and mask
so far), and when the prompted frame arrives the people it brings in (everyone, on the first one) are
propagated backwards over them; a held frame keeps the people it has. Then the frames are handed back in
order. Up to the first prompted frame the masks are those of :func:`mask_clip`; unlike it, people first
prompted on a later frame are found on the frames before it too (as in SAM 2 and Cutie), within the window.

What a bounded window cannot do, and what happens instead:

- frames more than ``backward_window`` frames before the first prompted frame are handed back at once with
  an empty id mask (nobody in them); :attr:`MaskStream.unreached` counts them, and the pipeline says so.
  Prompt an earlier frame (or raise the window) to cover them;
- a person first prompted on a later frame is on at most ``backward_window`` frames before it.

Without prompts the people finder prompts frame 0 (the person detector looks at frame 0 only; the
weight-free finder's motion cue holds its sample of the first frames back until it has them).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np

from vmat.errors import ConfigError, NoVideoError
from vmat.propagation.auto import find_people_ids
from vmat.propagation.clip import MaskingConfig, default_propagator
from vmat.propagation.prompts import FramePrompt, apply_prompt, prompts_by_frame
from vmat.propagation.propagator import MaskPropagator

T = TypeVar("T")


class MaskStream(Generic[T]):
    """``push(index, image (H, W, 3) uint8, item)`` -> ``[(item, ids (H, W) uint16), ...]`` for the frames
    whose masks are known now, in frame order; :meth:`finish` returns the rest at the end of the clip.

    ``item`` travels with its frame (the pipeline passes its frame record) so the caller need not keep the
    frames it pushed. Frames must be pushed in order from 0. A frame is handed back once no prompted frame
    lies within ``config.backward_window`` frames after it; until then it is held (image and mask), so
    memory holds at most that many frames (or the people finder's sample), whatever the clip's length.
    """

    def __init__(
        self,
        prompts: Sequence[FramePrompt] | None = None,
        config: MaskingConfig | None = None,
        propagator: MaskPropagator | None = None,
    ) -> None:
        self.config = config or MaskingConfig()
        self.automatic = not prompts
        self.propagator = propagator or default_propagator(self.config, self.automatic)
        self._by_frame = prompts_by_frame(list(prompts)) if prompts else {}
        self._prompted = sorted(self._by_frame)
        self.start_frame = self._prompted[0] if self._prompted else 0
        # The weight-free finder looks at every auto_stride-th frame of the first ones; the detector at frame 0.
        self._sample = (
            1 if self.config.people.method == "detector" else (self.config.auto_frames - 1) * self.config.auto_stride + 1
        )
        self._held: deque[list] = deque()  # [index, image, item, ids or None before the first prompt]
        self._state = None
        self._last = -1
        self.unreached = 0
        """Frames handed back with nobody because they lie more than the backward window before the first prompt."""

    @property
    def started(self) -> bool:
        return self._state is not None

    def push(self, index: int, image: np.ndarray, item: T) -> list[tuple[T, np.ndarray]]:
        if index != self._last + 1:
            raise ValueError(f"frames must be pushed in order: got frame {index} after frame {self._last}")
        self._last = index
        if self.automatic and not self.started:
            self._held.append([index, image, item, None])
            return self._start_automatic() if len(self._held) == self._sample else []
        if self.started:
            ids = self._step(index, image)
        elif index == self.start_frame:
            ids = self._start(image, self._by_frame.pop(index))
        else:
            ids = None
        if ids is not None and index in self._prompted:
            self._reach_back(image, ids)
        self._held.append([index, image, item, ids])
        return self._ready()

    def finish(self) -> list[tuple[T, np.ndarray]]:
        """The frames still held; raises :class:`ConfigError` for prompts on frames the clip does not have."""
        if not self.started:
            if self.automatic and self._held:
                return self._start_automatic() + self._release(len(self._held))
            if self.automatic:
                raise NoVideoError("the clip has no frames to find people in.")
            raise ConfigError(f"the first prompt is on frame {self.start_frame}, but the clip is shorter than that.")
        beyond = sorted(frame for frame in self._by_frame if frame > self._last)
        if beyond:
            raise ConfigError(f"a prompt is on frame {beyond[0]}, but the clip ends at frame {self._last}.")
        return self._release(len(self._held))

    def _ready(self) -> list[tuple[T, np.ndarray]]:
        """Hand back the held frames no coming prompt can reach back to; beyond the window, without it."""
        window = self.config.backward_window
        count = 0
        for index, *_ in self._held:
            if any(index < frame <= index + window for frame in self._prompted if frame > self._last):
                break
            count += 1
        return self._release(count)

    def _release(self, count: int) -> list[tuple[T, np.ndarray]]:
        ready = []
        for _ in range(count):
            _, image, item, ids = self._held.popleft()
            if ids is None:  # before the first prompt, beyond the window
                self.unreached += 1
                ids = np.zeros(image.shape[:2], np.uint16)
            ready.append((item, ids))
        return ready

    def _reach_back(self, image: np.ndarray, ids: np.ndarray) -> None:
        """Propagate the people a prompt on this frame brought in (everyone, on the first prompted frame)
        backwards over the held frames; a held frame keeps the people it already has."""
        earlier = list(self._held)
        known = set()
        for entry in earlier:
            if entry[3] is not None:
                known.update(np.unique(entry[3]).tolist())
        new = [int(k) for k in np.unique(ids) if k > 0 and k not in known]
        if not earlier or not new:
            return
        state = self.propagator.start(image, np.where(np.isin(ids, new), ids, 0).astype(np.uint16))
        for entry in reversed(earlier):
            back, state = self.propagator.step(entry[1], state)
            back = back.astype(np.uint16, copy=False)
            entry[3] = back if entry[3] is None else np.where((entry[3] == 0) & (back > 0), back, entry[3])

    def _step(self, index: int, image: np.ndarray) -> np.ndarray:
        ids, self._state = self.propagator.step(image, self._state)
        if index in self._by_frame:
            for round_ in self._by_frame.pop(index):
                ids = apply_prompt(image, round_, ids, self.config.segment)
            self._state = self.propagator.start(image, ids, self._state)
        return ids.astype(np.uint16, copy=False)

    def _start(self, image: np.ndarray, rounds: list[FramePrompt]) -> np.ndarray:
        """The first prompted frame's ids: ``rounds`` (at least one) applied in order."""
        ids = apply_prompt(image, rounds[0], None, self.config.segment)
        for round_ in rounds[1:]:
            ids = apply_prompt(image, round_, ids, self.config.segment)
        self._state = self.propagator.start(image, ids)
        return ids.astype(np.uint16, copy=False)

    def _start_automatic(self) -> list[tuple[T, np.ndarray]]:
        first = self._held[0][1]
        sample = [entry[1] for entry in self._held][:: self.config.auto_stride][: self.config.auto_frames]
        self._held[0][3] = self._start(
            first, [FramePrompt(0, id_mask=find_people_ids(sample, self.config.people, self.config.segment))]
        )
        for entry in list(self._held)[1:]:
            entry[3] = self._step(entry[0], entry[1])
        return self._release(len(self._held))
