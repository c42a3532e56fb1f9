"""What one frame's never-seen fill hands to the next frame's, so that the fill changes only where the
evidence does.

The invention is carried from the plate, so what could make it change from frame to frame is what each
frame decides about it afresh: the gain it takes, and which pixels of the ring around a still person are
laid over it from other frames. Both decisions rest on a few noisy measurements, and near their
thresholds they flip from one frame to the next (a flicker the true background does not have). Each
frame therefore starts from the previous frame's decisions and changes one only when its measurement
has moved clearly past the threshold (hysteresis).
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
    overlay: tuple[np.ndarray, np.ndarray] | None = None
    """``(H, W)`` bool pixels of that frame where the ring's median was laid over the invention, and the
    ``(H, W, 3)`` uint8 colours they took."""

    def take(self, index: int) -> FillMemory | None:
        """The decisions of frame ``index - 1``, or ``None`` when the last frame completed was another one;
        either way they are forgotten (the caller keeps its own with :meth:`keep`)."""
        last = FillMemory(self.index, self.gain, self.overlay) if self.index == index - 1 else None
        self.index, self.gain, self.overlay = None, None, None
        return last

    def keep(self, index: int, gain: np.ndarray | None, overlay: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.index, self.gain, self.overlay = index, gain, overlay
