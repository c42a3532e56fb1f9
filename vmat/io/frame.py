"""One decoded video frame as vmat passes it between stages."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: an RGB(A) image and when it is shown.

    ``image`` is ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8, upright (the container's rotation already
    applied). ``pts`` counts ``time_base`` units from the source stream's clock, so writing it back keeps
    variable-frame-rate clips in sync. ``duration`` (same units, ``None`` when the source does not say)
    is how long the frame is shown; it sets the length of the last frame in an output. ``index`` is the
    frame's position in decode output order, from 0.

    A frame read from part of a clip (``open_video(..., start=, end=)``) is numbered and timed as in a clip
    that is just that part: ``index`` counts from 0 at the range's first frame, and ``pts`` is moved back so
    that the range starts where the clip started, every interval kept exactly. ``source_pts`` is then the
    pts the frame has in the whole clip (``None`` when the whole clip is read), which tells a writer copying
    the clip's audio which stretch of it to take.
    """

    index: int
    image: np.ndarray
    pts: int
    time_base: Fraction
    duration: int | None = None
    source_pts: int | None = None

    @property
    def time(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
