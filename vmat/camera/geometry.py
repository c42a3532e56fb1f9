"""Plain geometry on 3x3 homographies between frames: how far they move a frame's corners, and the same
motion at another image size."""

from __future__ import annotations

import cv2
import numpy as np


def frame_corners(width: int, height: int) -> np.ndarray:
    """``(4, 1, 2)`` float64 centres of the corner pixels of a ``width`` x ``height`` frame."""
    return np.array([[[0, 0]], [[width - 1, 0]], [[0, height - 1]], [[width - 1, height - 1]]], np.float64)


def corner_shift(homography: np.ndarray, width: int, height: int) -> float:
    """The largest distance along either axis, in pixels, that ``homography`` moves a corner of the frame
    (0 for the identity)."""
    corners = frame_corners(width, height)
    return float(np.abs(cv2.perspectiveTransform(corners, homography) - corners).max())


def corner_error(first: np.ndarray, second: np.ndarray, width: int, height: int) -> float:
    """The largest Euclidean distance, in pixels, between where two homographies put a corner of the frame."""
    corners = frame_corners(width, height)
    difference = cv2.perspectiveTransform(corners, first) - cv2.perspectiveTransform(corners, second)
    return float(np.linalg.norm(difference[:, 0], axis=1).max())


def rescale_homography(homography: np.ndarray, scale_x: float, scale_y: float | None = None) -> np.ndarray:
    """The same motion for the image resized by ``scale_x`` (and ``scale_y``, default the same) on each
    axis, in ``cv2.resize``'s pixel-centre convention: ``x_resized = scale_x * (x + 0.5) - 0.5``."""
    scale_y = scale_x if scale_y is None else scale_y
    to_scaled = np.array([[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5], [0.0, 0.0, 1.0]])
    return to_scaled @ homography @ np.linalg.inv(to_scaled)
