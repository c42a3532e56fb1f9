"""Instance masks in one ordered pass over a clip: push frames in order, get each frame's id mask back.

:func:`~vmat.propagation.clip.mask_clip` propagates forwards from the first prompted frame, then decodes the
clip again to go backwards from it to frame 0. :class:`MaskStream` makes the same masks while the frames go
by once: frames before the first prompted frame are held in memory (at most ``backward_window`` of them),
and when the prompted frame arrives they are propagated backwards from it and handed back in order.

What a bounded window cannot do, and what happens instead:

- frames more than ``backward_window`` frames before the first prompted frame are handed back at once with
  an empty id mask (nobody in them); :attr:`MaskStream.unreached` counts them, and the pipeline says so.
  Prompt an earlier frame (or raise the window) to cover them;
- instances first prompted on a later frame are only propagated forwards from it, as in :func:`mask_clip`.

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
    frames it pushed. Frames must be pushed in order from 0. Memory: at most ``config.backward_window``
    held frames (or the people finder's sample), whatever the clip's length.
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
        self.start_frame = min(self._by_frame) if self._by_frame else 0
        # The weight-free finder looks at every auto_stride-th frame of the first ones; the detector at frame 0.
        self._sample = 1 if self.config.people.method == "detector" else (self.config.auto_frames - 1) * self.config.auto_stride + 1
        self._held: deque[tuple[int, np.ndarray, T]] = deque()
        self._state = None
        self._last = -1
        self.unreached = 0
        """Frames handed back with an empty mask because they lie beyond the backward window."""

    @property
    def started(self) -> bool:
        return self._state is not None

    def push(self, index: int, image: np.ndarray, item: T) -> list[tuple[T, np.ndarray]]:
        if index != self._last + 1:
            raise ValueError(f"frames must be pushed in order: got frame {index} after frame {self._last}")
        self._last = index
        if self.started:
            return [(item, self._step(index, image))]
        if self.automatic:
            self._held.append((index, image, item))
            return self._start_automatic() if len(self._held) == self._sample else []
        if index < self.start_frame - self.config.backward_window:
            self.unreached += 1
            return [(item, np.zeros(image.shape[:2], np.uint16))]
        if index < self.start_frame:
            self._held.append((index, image, item))
            return []
        return self._start_prompted(index, image, item)

    def finish(self) -> list[tuple[T, np.ndarray]]:
        """The frames still held; raises :class:`ConfigError` for prompts on frames the clip does not have."""
        ready = []
        if not self.started:
            if self.automatic:
                if not self._held:
                    raise NoVideoError("the clip has no frames to find people in.")
                ready = self._start_automatic()
            else:
                raise ConfigError(f"the first prompt is on frame {self.start_frame}, but the clip is shorter than that.")
        beyond = sorted(frame for frame in self._by_frame if frame > self._last)
        if beyond:
            raise ConfigError(f"a prompt is on frame {beyond[0]}, but the clip ends at frame {self._last}.")
        return ready

    def _step(self, index: int, image: np.ndarray) -> np.ndarray:
        ids, self._state = self.propagator.step(image, self._state)
        if index in self._by_frame:
            for round_ in self._by_frame.pop(index):
                ids = apply_prompt(image, round_, ids, self.config.segment)
            self._state = self.propagator.start(image, ids, self._state)
        return ids.astype(np.uint16, copy=False)

    def _start(self, image: np.ndarray, rounds: list[FramePrompt]) -> np.ndarray:
        ids = None
        for round_ in rounds:
            ids = apply_prompt(image, round_, ids, self.config.segment)
        self._state = self.propagator.start(image, ids)
        return ids.astype(np.uint16, copy=False)

    def _start_prompted(self, index: int, image: np.ndarray, item: T) -> list[tuple[T, np.ndarray]]:
        ids = self._start(image, self._by_frame.pop(index))
        earlier = []
        if self._held:
            # Backwards from the prompted frame over the held frames, then forwards from it again.
            state = self.propagator.start(image, ids)
            for held_index, held_image, held_item in reversed(self._held):
                held_ids, state = self.propagator.step(held_image, state)
                earlier.append((held_item, held_ids.astype(np.uint16, copy=False)))
            earlier.reverse()
            self._held.clear()
        return [*earlier, (item, ids)]

    def _start_automatic(self) -> list[tuple[T, np.ndarray]]:
        _, first, item = self._held[0]
        sample = [image for _, image, _ in self._held][:: self.config.auto_stride][: self.config.auto_frames]
        ready = [(item, self._start(first, [FramePrompt(self.start_frame, id_mask=find_people_ids(sample, self.config.people, self.config.segment))]))]
        held = list(self._held)[1:]
        self._held.clear()
        return ready + [(held_item, self._step(index, image)) for index, image, held_item in held]
