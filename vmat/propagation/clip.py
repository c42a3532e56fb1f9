"""Instance masks for a whole clip: prompts (or people found automatically), propagation both ways, export.

Frames are streamed; the backward pass re-reads the clip in chunks of ``backward_chunk`` frames (from the
start each time), so memory stays bounded by one chunk however long the clip is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import islice

import numpy as np

from vmat.errors import ConfigError, NoVideoError, UnsupportedMediaError
from vmat.io.atomic import atomic_output
from vmat.limits import MIN_TRACKED_SIDE
from vmat.progress import progress
from vmat.propagation.auto import PeopleFinderConfig, find_people_ids
from vmat.propagation.idmask import colourize, mask_path, read_id_mask, write_id_mask
from vmat.propagation.prompts import FramePrompt, SegmentConfig, apply_prompt, prompts_by_frame
from vmat.propagation.propagator import MaskPropagator


@dataclass
class MaskingConfig:
    """How a clip's instance masks are made."""

    backward_chunk: int = 32
    # The one-pass pipeline (vmat.propagation.stream) holds at most this many frames before the first prompted
    # frame in memory to propagate back over; earlier frames get no people.
    backward_window: int = 64
    # "prior" (flow fused with the person prior) or "flow" (weight-free); see vmat.propagation.registry.
    propagator: str = "prior"
    # Where the person prior's networks run ("cpu", "cuda", "cuda:N").
    device: str = "cpu"
    # Automatic people finding: how many frames (every `auto_stride`-th from the start) feed the motion cue
    # of the weight-free finder (the detector looks at frame 0 only).
    auto_frames: int = 20
    auto_stride: int = 3
    people: PeopleFinderConfig = field(default_factory=PeopleFinderConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)


@dataclass
class MaskingSummary:
    """What :func:`mask_clip` did."""

    frames: int
    start_frame: int
    ids: list[int]
    automatic: bool
    propagation_seconds: float

    @property
    def propagation_fps(self) -> float:
        return self.frames / self.propagation_seconds if self.propagation_seconds > 0 else float("inf")


FrameSource = Callable[[], Iterator[np.ndarray]]


def video_frames(path: str | os.PathLike[str], **open_options) -> FrameSource:
    """A re-openable source of ``(H, W, 3)`` RGB uint8 frames of a clip or image folder, via :mod:`vmat.io`
    (``open_options``, such as a frame range ``start``/``end``, go to :func:`~vmat.io.open_video`)."""
    from vmat.io import open_video

    def frames() -> Iterator[np.ndarray]:
        with open_video(path, **open_options) as reader:
            width, height = reader.info.width, reader.info.height
            if min(width, height) < MIN_TRACKED_SIDE:
                raise UnsupportedMediaError(
                    f"{str(path)!r} is {width}x{height}: people are tracked in frames of at least "
                    f"{MIN_TRACKED_SIDE}x{MIN_TRACKED_SIDE} pixels."
                )
            for frame in reader:
                yield frame.image

    return frames


def propagate(
    frames: Iterator[tuple[int, np.ndarray]],
    propagator: MaskPropagator,
    start: tuple[np.ndarray, np.ndarray],
    prompts: dict[int, list[FramePrompt]] | None = None,
    segment: SegmentConfig | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Carry the id mask of ``start = (image, ids)`` along ``frames`` (``(index, image)`` in either order).

    Prompt rounds met on the way are applied on top of the propagated mask, and propagation restarts from
    the result (lost instances stay remembered). Yields ``(index, ids)`` for every frame of ``frames``.
    """
    prompts = prompts or {}
    state = propagator.start(*start)
    for index, image in frames:
        ids, state = propagator.step(image, state)
        if index in prompts:
            for round_ in prompts[index]:
                ids = apply_prompt(image, round_, ids, segment)
            state = propagator.start(image, ids, state)
        yield index, ids


def _reversed_frames(source: FrameSource, stop: int, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    """Frames ``stop - 1`` down to 0, decoding ``chunk`` frames at a time from the start of the clip."""
    end = stop
    while end > 0:
        begin = max(0, end - chunk)
        block = list(islice(source(), begin, end))
        for offset in range(len(block) - 1, -1, -1):
            yield begin + offset, block[offset]
        end = begin


def first_frame_prompt(source: FrameSource, config: MaskingConfig) -> FramePrompt:
    """An id-mask prompt on frame 0 from the automatic people finder (see :mod:`.auto`)."""
    sample = list(islice(source(), 0, config.auto_frames * config.auto_stride, config.auto_stride))
    if not sample:
        raise NoVideoError("the clip has no frames to find people in.")
    return FramePrompt(0, id_mask=find_people_ids(sample, config.people, config.segment))


def default_propagator(config: MaskingConfig, automatic: bool) -> MaskPropagator:
    """The propagator ``config`` names; found automatically, the prior also picks up people who enter later."""
    if config.propagator == "prior":
        from vmat.propagation.prior import PriorPropagator, PriorPropagatorConfig

        return PriorPropagator(PriorPropagatorConfig(pick_up_new=automatic, device=config.device))
    from vmat.propagation.registry import make_propagator

    return make_propagator(config.propagator)


def mask_clip(
    source: FrameSource,
    out_dir: str | os.PathLike[str],
    prompts: Sequence[FramePrompt] | None = None,
    propagator: MaskPropagator | None = None,
    config: MaskingConfig | None = None,
) -> MaskingSummary:
    """Write one id-mask PNG per frame of ``source`` into ``out_dir`` (``000000.png``, ...).

    Without ``prompts`` the automatic people finder prompts frame 0. Propagation runs forwards from the
    first prompted frame to the end (applying later prompts when it meets them), then backwards from it
    to frame 0. Instances first prompted after the first prompted frame are only propagated forwards.
    """
    config = config or MaskingConfig()
    automatic = not prompts
    propagator = propagator or default_propagator(config, automatic)
    rounds = [first_frame_prompt(source, config)] if automatic else list(prompts)
    by_frame = prompts_by_frame(rounds)
    start_index = min(by_frame)
    # The folder appears under its name only once every frame's mask is in it.
    with atomic_output(out_dir, is_dir=True) as out_dir:
        frames = enumerate(source())
        start_image = next((image for index, image in frames if index == start_index), None)
        if start_image is None:
            raise ConfigError(f"the first prompt is on frame {start_index}, but the clip is shorter than that.")
        start_ids = None
        for round_ in by_frame.pop(start_index):
            start_ids = apply_prompt(start_image, round_, start_ids, config.segment)
        write_id_mask(mask_path(out_dir, start_index), start_ids)
        seen = set(np.unique(start_ids).tolist())
        count = 1
        began = time.perf_counter()
        last = start_index
        for index, ids in progress(
            propagate(frames, propagator, (start_image, start_ids), by_frame, config.segment), desc="masks forward"
        ):
            write_id_mask(mask_path(out_dir, index), ids)
            seen.update(np.unique(ids).tolist())
            count += 1
            last = index
        beyond = sorted(frame for frame in by_frame if frame > last)
        if beyond:
            raise ConfigError(f"a prompt is on frame {beyond[0]}, but the clip ends at frame {last}.")
        if start_index > 0:
            backward = _reversed_frames(source, start_index, config.backward_chunk)
            for index, ids in progress(
                propagate(backward, propagator, (start_image, start_ids)), total=start_index, desc="masks backward"
            ):
                write_id_mask(mask_path(out_dir, index), ids)
                seen.update(np.unique(ids).tolist())
                count += 1
        elapsed = time.perf_counter() - began
    return MaskingSummary(count, start_index, sorted(seen - {0}), automatic, elapsed)


def write_preview(
    source: FrameSource, mask_dir: str | os.PathLike[str], path: str | os.PathLike[str], fps: float | Fraction
) -> int:
    """Encode the clip with its coloured, id-labelled masks over it (H.264 via :mod:`vmat.io`). Returns frames."""
    from vmat.io import VideoWriter

    written = 0
    with VideoWriter(path, fps=fps) as writer:
        for index, image in enumerate(source()):
            file = mask_path(mask_dir, index)
            ids = read_id_mask(file) if file.is_file() else np.zeros(image.shape[:2], np.uint16)
            writer.write(colourize(image, ids))
            written += 1
    return written
