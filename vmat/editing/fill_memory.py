"""What one frame's never-seen fill hands to the next frame's, so that the fill changes only where the
evidence does.

The invention is carried from the plate; what each frame still decides about it afresh is the gain it
takes, measured on a ring around the hole whose pixels change with the mask. A change of gain within its
tolerance cannot be told from that noise, and following it would make the fill flicker, so each frame
starts from the previous frame's gain (hysteresis).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FillMemory:
    """The decisions of the last frame completed: one frame's worth, whatever the clip's length.

    Only the very next frame uses them (:meth:`take`); a frame that invents nothing leaves none.
    """

    index: int | None = None
    """The frame they were taken in."""
    gain: np.ndarray | None = None
    """``(3,)`` the invention's per-channel gain (``None``: 1)."""

    def take(self, index: int) -> FillMemory | None:
        """The decisions of frame ``index - 1``, or ``None`` when the last frame completed was another one;
        either way they are forgotten (the caller keeps its own with :meth:`keep`)."""
        last = FillMemory(self.index, self.gain) if self.index == index - 1 else None
        self.index, self.gain = None, None
        return last

    def keep(self, index: int, gain: np.ndarray | None) -> None:
        self.index, self.gain = index, gain
