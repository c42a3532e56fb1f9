"""Small stages with exactly known results, for testing runners (pickled by value into Ray workers)."""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from vmat.errors import ConfigError
from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo
from vmat.pipeline import FrameRecord, Stage


def toy_info(num_frames: int) -> VideoInfo:
    return VideoInfo(
        path="toy", container="toy", codec="toy", pixel_format="rgb24", width=3, height=2, rotation=0,
        has_alpha=False, frame_rate=Fraction(10), variable_frame_rate=False, time_base=Fraction(1, 10),
        start_time=0.0, duration=num_frames / 10, num_frames=num_frames, colour=None,
    )


def toy_records(count: int, height: int = 2, width: int = 3):
    """Frame ``i`` is a 2x3 (or ``height`` x ``width``) image filled with ``i``."""
    for index in range(count):
        yield FrameRecord(Frame(index, np.full((height, width, 3), index, np.uint8), index, Fraction(1, 10)))


class Double(Stage):
    """Pooled: depth = 2 * pixel value. Odd-numbered batches are slow, so pooled batches finish out of order."""

    name = "double"

    def process(self, batch):
        if batch[0].index // len(batch) % 2:
            time.sleep(0.05)
        for record in batch:
            record.depth = record.frame.image[..., 0].astype(np.float32) * 2
        return batch


class RunningSum(Stage):
    """Ordered: output = running sum of the depths so far; holds the last two frames back until the end."""

    name = "running-sum"
    ordered = True

    def start_clip(self, info):
        self.total = 0.0  # an array from the first frame on, at whatever size the frames come
        self.held = []

    def process(self, batch):
        for record in batch:
            self.total = self.total + record.depth
            record.output = self.total.copy()
        self.held.extend(batch)
        ready, self.held = self.held[:-2], self.held[-2:]
        return ready

    def finish_clip(self):
        held, self.held = self.held, []
        return held


class DieOnce(Stage):
    """Pooled: the worker process exits at frame ``index`` the first time (a marker file remembers it)."""

    name = "die-once"

    def __init__(self, marker: str, index: int) -> None:
        self.marker, self.index = Path(marker), index

    def process(self, batch):
        if any(record.index == self.index for record in batch) and not self.marker.exists():
            self.marker.touch()
            os._exit(1)
        return batch


class DieOnceOrdered(DieOnce):
    name = "die-once-ordered"
    ordered = True


class Threshold(Stage):
    """Ordered, like mask propagation: ids where the frame's red channel is odd."""

    name = "threshold"
    ordered = True

    def process(self, batch):
        for record in batch:
            record.masks = (record.frame.image[..., 0] % 2).astype(np.uint16)
        return batch


def make_running_sum() -> Stage:
    """A factory that is neither a Stage class nor a classmethod: the runner must build it to learn its kind."""
    return RunningSum()


class RefusesToStart(Stage):
    """Ordered, and its factory fails as a bad user option would."""

    name = "refuses"
    ordered = True

    def __init__(self) -> None:
        raise ConfigError("prompt 7 names no person")
