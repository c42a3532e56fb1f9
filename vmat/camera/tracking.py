"""Frame-to-frame camera motion from the visible background: KLT features, RANSAC homography.

Features are found (Shi-Tomasi corners) only where the background is seen, far enough from people that
their tracking window does not reach them (a person's motion would drag it), tracked by pyramidal
Lucas-Kanade, kept only when tracking them back returns them to where they started and they land on seen
background, and fitted by a RANSAC homography.

:func:`estimate_motion` does this from scratch for one pair of full-size frames (it is what background
completion has always used). :class:`CameraTracker` does it for a stream at a reduced working size and
carries the features that fitted from one frame to the next, re-detecting only when too few remain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vmat.camera.geometry import rescale_homography

_PYRAMID_LEVELS = 3
_MIN_POINTS = 8


@dataclass(frozen=True)
class TrackerConfig:
    """Settings for :class:`CameraTracker`. Distances are in working-size pixels."""

    size: int | None = 640
    """Longer side at which frames are tracked (larger frames are reduced; ``None`` tracks at full size)."""
    max_features: int = 500
    window: int = 15
    """Lucas-Kanade window side; features lie at least half of it inside the seen background."""
    refresh: float = 0.5
    """Re-detect features when fewer than this fraction of ``max_features`` survive from the last frame."""
    round_trip: float = 0.5
    """A feature tracked forward and back must return within this many pixels."""
    ransac: float = 1.0
    """RANSAC inlier distance."""
    still: float = 0.05
    """When nine in ten fitted features moved less than this, the camera is still and the motion is the
    identity: a homography fitted to such sub-pixel noise tilts the frame's corners by up to a pixel (on a
    tripod shot with a person pasted in, 1 px within three frames), which would make a static camera look
    like a moving one."""


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def _min_distance(shape: tuple[int, ...]) -> int:
    return max(3, min(shape[:2]) // 60)


def _trusted(seen: np.ndarray, window: int) -> np.ndarray:
    """Where a feature's whole tracking window lies on seen background."""
    return cv2.erode(seen.astype(np.uint8), np.ones((window, window), np.uint8))


def _detect(grey: np.ndarray, trusted: np.ndarray, count: int) -> np.ndarray | None:
    """``(N, 1, 2)`` float32 corners in ``trusted`` (uint8), or ``None``."""
    return cv2.goodFeaturesToTrack(grey, count, 0.01, _min_distance(grey.shape), mask=trusted, blockSize=5)


def _track(
    before: np.ndarray,
    after: np.ndarray,
    points: np.ndarray,
    seen_after: np.ndarray,
    window: int,
    round_trip: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Where ``points`` moved between two images, and ``(N,)`` which of them to trust:
    tracked both ways, back within ``round_trip`` pixels, landing inside the frame on seen background."""
    height, width = seen_after.shape
    size = (window, window)
    # OpenCV's stubs type nextPts as required; OpenCV itself allocates it when given None.
    moved, status, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        before, after, points, None, winSize=size, maxLevel=_PYRAMID_LEVELS
    )
    back, status_back, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
        after, before, moved, None, winSize=size, maxLevel=_PYRAMID_LEVELS
    )
    ok = (status.ravel() == 1) & (status_back.ravel() == 1)
    ok &= np.linalg.norm((back - points)[:, 0], axis=1) < round_trip
    x, y = moved[:, 0, 0], moved[:, 0, 1]
    half = window // 2
    ok &= (x >= half) & (y >= half) & (x < width - half) & (y < height - half)
    ok[ok] &= seen_after[y[ok].round().astype(int), x[ok].round().astype(int)]
    return moved, ok


def estimate_motion(
    previous: np.ndarray,
    current: np.ndarray,
    previous_seen: np.ndarray,
    current_seen: np.ndarray,
    *,
    max_features: int = 500,
    window: int = 15,
) -> np.ndarray | None:
    """3x3 homography from ``previous``'s pixels to ``current``'s, from the seen background only, or
    ``None`` when too little background can be tracked.

    Args:
        previous, current: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` uint8 grey frames.
        previous_seen, current_seen: ``(H, W)`` bool, where each frame sees the background.
    """
    before, after = _grey(previous), _grey(current)
    points = _detect(before, _trusted(previous_seen, window), max_features)
    if points is None or len(points) < _MIN_POINTS:
        return None
    moved, ok = _track(before, after, points, current_seen, window, 0.5)
    if ok.sum() < _MIN_POINTS:
        return None
    homography, _ = cv2.findHomography(points[ok], moved[ok], cv2.RANSAC, 1.0)
    return homography


@dataclass
class _Frame:
    """What the tracker keeps of the last frame, at working size."""

    grey: np.ndarray
    trusted: np.ndarray  # uint8
    points: np.ndarray  # (N, 1, 2) float32: features that fitted the last motion, where they are now
    full_size: tuple[int, int]  # width, height


class CameraTracker:
    """Camera motion through one clip, one frame at a time.

    ``update(image, background)`` returns the ``(3, 3)`` float64 homography that maps the previous
    frame's pixels to this frame's (at the size of the images given), or ``None`` on the first frame,
    after a change of image size, or when too little background can be tracked. Memory is one frame at
    working size and its features.
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._last: _Frame | None = None

    def reset(self) -> None:
        """Forget the last frame (a cut: the next frame has no motion)."""
        self._last = None

    def update(self, image: np.ndarray, background: np.ndarray | None = None) -> np.ndarray | None:
        """Track one frame.

        Args:
            image: ``(H, W, 3)`` uint8 RGB or ``(H, W)`` uint8 grey.
            background: ``(H, W)`` bool, where the background is seen (people and a margin around them
                excluded); ``None``: everywhere.
        """
        config = self.config
        grey = _grey(image)
        height, width = grey.shape
        seen = np.ones(grey.shape, bool) if background is None else background.astype(bool)
        scale = 1.0 if config.size is None else min(1.0, config.size / max(height, width))
        if scale < 1.0:
            small = (max(1, round(width * scale)), max(1, round(height * scale)))
            grey = cv2.resize(grey, small, interpolation=cv2.INTER_AREA)
            # A reduced pixel is seen only when all of it was.
            seen = cv2.resize(seen.astype(np.uint8) * 255, small, interpolation=cv2.INTER_AREA) == 255
        last = self._last
        current = _Frame(grey, _trusted(seen, config.window), np.empty((0, 1, 2), np.float32), (width, height))
        self._last = current
        if last is None or last.full_size != current.full_size:
            return None
        points = self._features(last)
        if len(points) < _MIN_POINTS:
            return None
        moved, ok = _track(last.grey, current.grey, points, seen, config.window, config.round_trip)
        if ok.sum() < _MIN_POINTS:
            return None
        homography, inliers = cv2.findHomography(points[ok], moved[ok], cv2.RANSAC, config.ransac)
        if homography is None:
            return None
        current.points = moved[ok][inliers.ravel() == 1]
        displacement = np.linalg.norm((current.points - points[ok][inliers.ravel() == 1])[:, 0], axis=1)
        if np.percentile(displacement, 90) < config.still:
            return np.eye(3)
        return rescale_homography(homography, width / grey.shape[1], height / grey.shape[0])

    def _features(self, last: _Frame) -> np.ndarray:
        """The last frame's carried features still on trusted background, topped up by fresh corners away
        from them when too few remain."""
        points = last.points
        if len(points):
            x = points[:, 0, 0].round().astype(int).clip(0, last.grey.shape[1] - 1)
            y = points[:, 0, 1].round().astype(int).clip(0, last.grey.shape[0] - 1)
            points = points[last.trusted[y, x] > 0]
        wanted = self.config.max_features - len(points)
        if len(points) >= self.config.refresh * self.config.max_features or wanted <= 0:
            return points
        free = last.trusted.copy()
        for x, y in points[:, 0]:
            cv2.circle(free, (int(round(x)), int(round(y))), _min_distance(last.grey.shape), 0, -1)
        fresh = _detect(last.grey, free, wanted)
        return points if fresh is None else np.concatenate([points, fresh.astype(np.float32)])
