"""What the pipeline knows about one frame; each stage fills in its part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmat.io.frame import Frame
from vmat.layers import LayerStack


@dataclass
class FrameRecord:
    """One frame travelling through the pipeline.

    - ``frame``: the decoded frame (image ``(H, W, 3)`` uint8 RGB, pts, time base, duration).
    - ``masks``: ``(H, W)`` uint16 instance ids, 0 = background, the same id for the same person all clip.
    - ``depth``: ``(H, W)`` float32 relative depth in [0, 1], smaller = nearer (see :mod:`vmat.depth`).
    - ``layers``: the frame's :class:`~vmat.layers.LayerStack` (background + one plane per person).
    - ``camera``: ``(3, 3)`` float64 homography taking the previous frame's pixels to this frame's (at this
      record's frame size), ``None`` on the first frame or where the camera could not be tracked.
    - ``output``: ``(H, W, 3)`` uint8 RGB of the edited frame, when an edit ran.
    """

    frame: Frame
    masks: np.ndarray | None = None
    depth: np.ndarray | None = None
    layers: LayerStack | None = None
    camera: np.ndarray | None = None
    output: np.ndarray | None = None

    @property
    def index(self) -> int:
        return self.frame.index
