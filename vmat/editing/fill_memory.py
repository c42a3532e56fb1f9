"""What one frame's never-seen fill hands to the next frame's, so that the fill changes only where the
evidence does.

The invention is carried from the plate; what each frame still decides about it afresh is the gain it
takes and the seam correction that blends it in (a smooth colour difference, measured on pixels around the
hole that change with the mask). A change of either within its tolerance cannot be told from that noise,
and following it would make the fill flicker, so each frame starts from the previous frame's (hysteresis).
The seam correction is carried with the camera, as the invention is, so it stays on the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
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
    correction: np.ndarray | None = None
    """``(h, w, 3)`` float32 the seam correction over the frame's work box ``box``: the colour difference
    added to the invention inside the hole and the (smoothed) difference it met outside it (``None``: no
    blend)."""
    box: tuple[slice, slice] | None = None
    """Rows and columns of the frame that ``correction`` covers."""

    def take(self, index: int) -> FillMemory | None:
        """The decisions of frame ``index - 1``, or ``None`` when the last frame completed was another one;
        either way they are forgotten (the caller keeps its own with :meth:`keep`)."""
        last = FillMemory(self.index, self.gain, self.correction, self.box) if self.index == index - 1 else None
        self.index, self.gain, self.correction, self.box = None, None, None, None
        return last

    def keep(
        self,
        index: int,
        gain: np.ndarray | None,
        correction: np.ndarray | None = None,
        box: tuple[slice, slice] | None = None,
    ) -> None:
        """Remember frame ``index``'s decisions: ``gain`` ``(3,)`` and the seam ``correction`` ``(h, w, 3)``
        float32 over the frame's ``box`` (rows, columns of the same size; without it the correction is never
        :meth:`carried`)."""
        self.index, self.gain, self.correction, self.box = index, gain, correction, box

    def carried(self, motion: np.ndarray, box: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray] | None:
        """The seam correction moved onto another frame's ``box`` by ``motion`` (``(3, 3)``, this memory's
        frame pixels -> that frame's pixels): ``(h, w, 3)`` float32 and ``(h, w)`` bool where it is known
        (its source lies inside the box it was kept on); ``None`` when there is none."""
        if self.correction is None or self.box is None:
            return None
        rows, cols = box
        size = (cols.stop - cols.start, rows.stop - rows.start)
        crop = np.array([[1.0, 0.0, -cols.start], [0.0, 1.0, -rows.start], [0.0, 0.0, 1.0]])
        uncrop = np.array([[1.0, 0.0, self.box[1].start], [0.0, 1.0, self.box[0].start], [0.0, 0.0, 1.0]])
        matrix = crop @ motion @ uncrop
        moved = cv2.warpPerspective(self.correction, matrix, size, flags=cv2.INTER_LINEAR)
        inside = cv2.warpPerspective(np.full(self.correction.shape[:2], 255, np.uint8), matrix, size) == 255
        return moved, inside
