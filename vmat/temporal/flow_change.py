"""Change maps that ignore camera motion: difference the frames after aligning them by a homography.

:func:`~vmat.temporal.fusion.frame_change_map` marks every textured pixel as changed when the camera
pans, and fusion then does nothing. Here the previous frame is first warped onto the current one by a
global homography, so only what moves against the scene (people) and the strip the camera newly reveals
count as change. The homography comes from ORB feature matches (RANSAC), refined to sub-pixel accuracy by
ECC image alignment (a feature fit alone is off by pixels on fine texture, enough to mark it all as
changed). When neither finds an alignment (a blank or wholly new frame) the plain difference is used.
:class:`ChangeTracker` adds slow change: each pixel against its picture at its last change.
"""

from __future__ import annotations

import cv2
import numpy as np

from vmat.temporal.fusion import frame_change_map

ESTIMATE = "estimate"
"""Passed as a homography: estimate it from the frames."""
MIN_MATCHES = 12
ORB_FEATURES = 1000
RANSAC_PIXELS = 2.0
ECC_ITERATIONS = 50
ECC_EPSILON = 1e-5
# The alignment is fitted at this longer side at most (ECC at 720p costs half a second a frame) and
# scaled back up; sub-pixel accuracy at the reduced size is still about a pixel at full size.
ALIGN_SIZE = 480
# Both frames are smoothed by this Gaussian (pixels) before differencing. Bilinear resampling blurs the
# warped frame and the fit is off by a fraction of a pixel even for a still camera (ECC finds about 0.6 px at
# the corners of a tripod shot), which alone marked about half of a grassy frame as changed; smoothed alike,
# both frames agree there again (8% changed, as for the plain difference) while people still stand out.
RESAMPLING_SIGMA = 1.0
# The slow-change comparison (ChangeTracker) smooths more: on a tripod shot with up to half a pixel of shake,
# a reference carried along for 30 frames differed from the frame on up to 17% of fine texture at 1 px, 5%
# at 2 px and 2% at 3 px (consecutive frames at 1 px: 1.4%).
SLOW_CHANGE_SIGMA = 3.0


def feature_homography(previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    """``(3, 3)`` homography mapping ``previous``'s pixels onto ``current``'s (both ``(H, W, 3)`` uint8), or
    ``None`` when the frames do not share enough features."""
    orb = cv2.ORB_create(ORB_FEATURES)
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in (previous, current)]
    (points_a, descriptors_a), (points_b, descriptors_b) = (orb.detectAndCompute(g, None) for g in grey)
    if descriptors_a is None or descriptors_b is None or min(len(points_a), len(points_b)) < MIN_MATCHES:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(descriptors_a, descriptors_b)
    if len(matches) < MIN_MATCHES:
        return None
    source = np.float32([points_a[m.queryIdx].pt for m in matches])
    target = np.float32([points_b[m.trainIdx].pt for m in matches])
    homography, inliers = cv2.findHomography(source, target, cv2.RANSAC, RANSAC_PIXELS)
    if homography is None or int(inliers.sum()) < MIN_MATCHES:
        return None
    return homography


def camera_homography(previous: np.ndarray, current: np.ndarray) -> np.ndarray | None:
    """``(3, 3)`` homography mapping ``previous`` onto ``current`` (both ``(H, W, 3)`` uint8): the feature fit
    refined by ECC (at most :data:`ALIGN_SIZE` px on the longer side), or ``None`` when no alignment converges."""
    scale = min(1.0, ALIGN_SIZE / max(previous.shape[:2]))
    if scale < 1.0:
        size = (round(previous.shape[1] * scale), round(previous.shape[0] * scale))
        small = camera_homography(*(cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in (previous, current)))
        if small is None:
            return None
        to_small = np.diag([scale, scale, 1.0])
        return np.linalg.inv(to_small) @ small @ to_small
    initial = feature_homography(previous, current)
    grey_previous, grey_current = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (previous, current))
    # ECC estimates the inverse map (current -> previous pixels).
    warp = np.eye(3, dtype=np.float32) if initial is None else np.linalg.inv(initial).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, ECC_EPSILON)
    try:
        _, warp = cv2.findTransformECC(grey_current, grey_previous, warp, cv2.MOTION_HOMOGRAPHY, criteria, None, 5)
    except cv2.error:  # no convergence (e.g. a flat frame)
        return initial
    return np.linalg.inv(warp)


def _warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` warped by ``homography`` onto a ``(width, height)`` frame."""
    return cv2.warpPerspective(image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _smoothed_change(reference: np.ndarray, current: np.ndarray, sigma: float, threshold: float, grow: int) -> np.ndarray:
    return frame_change_map(*(cv2.GaussianBlur(frame, (0, 0), sigma) for frame in (reference, current)), threshold, grow)


def _consecutive_change(
    previous: np.ndarray, current: np.ndarray, homography: np.ndarray | None, threshold: float, grow: int
) -> np.ndarray:
    """:func:`flow_change_map` with the camera's ``homography`` (previous -> current) given; ``None``: the plain
    :func:`frame_change_map`."""
    if homography is None:
        return frame_change_map(previous, current, threshold, grow)
    size = (current.shape[1], current.shape[0])
    # The warped frame's edge is resampled from the border; a 1-px erosion keeps it out of the map.
    covered = cv2.warpPerspective(np.ones(current.shape[:2], np.uint8), homography, size, flags=cv2.INTER_NEAREST)
    covered = cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0
    return _smoothed_change(_warp(previous, homography, size), current, RESAMPLING_SIGMA, threshold, grow) | ~covered


def flow_change_map(previous: np.ndarray, current: np.ndarray, threshold: float = 12.0, grow: int = 4) -> np.ndarray:
    """``(H, W)`` bool change map of two ``(H, W, 3)`` uint8 frames with the camera's motion removed.

    Same ``threshold`` and ``grow`` as :func:`frame_change_map`, after both frames are smoothed by
    :data:`RESAMPLING_SIGMA`; pixels the warped previous frame does not cover (newly revealed) count as
    changed. When no alignment is found it is the plain :func:`frame_change_map`.
    """
    return _consecutive_change(previous, current, camera_homography(previous, current), threshold, grow)


class ChangeTracker:
    """``update(image (H, W, 3) uint8)`` -> ``(H, W)`` bool: where the picture changed, between consecutive
    frames or slowly since each pixel last changed (every pixel on the first frame, or when the size changes).

    Consecutive frames alone miss slow change: a motion-blurred edge that fades out over several frames,
    each step under the threshold, would leave the held matte of the person who had been there. So each
    pixel is also compared with its picture at its last change (the reference). That comparison is smoothed
    by :data:`SLOW_CHANGE_SIGMA`: it is for region-sized change, and the reference, carried along with the
    camera by one homography a frame when ``align``, gathers resampling blur and alignment error that would
    otherwise mark fine texture as changed after a few frames.
    """

    def __init__(self, align: bool = True, threshold: float = 12.0, grow: int = 4) -> None:
        self.align, self.threshold, self.grow = align, threshold, grow
        self._previous: np.ndarray | None = None
        self._reference: np.ndarray | None = None

    def update(self, image: np.ndarray, homography: np.ndarray | None | str = ESTIMATE) -> np.ndarray:
        """``homography``: the camera's motion from the previous image to this one when known (the pipeline
        tracks it once per frame; ``None``: untracked, the frames are compared as they are), else
        :data:`ESTIMATE`: :func:`camera_homography` of the two frames."""
        if self._previous is None or self._previous.shape != image.shape:
            self._previous, self._reference = image, image
            return np.ones(image.shape[:2], bool)
        if not self.align:
            homography = None
        elif isinstance(homography, str):
            homography = camera_homography(self._previous, image)
        change = _consecutive_change(self._previous, image, homography, self.threshold, self.grow)
        reference = self._reference if homography is None else _warp(self._reference, homography, image.shape[1::-1])
        change |= _smoothed_change(reference, image, SLOW_CHANGE_SIGMA, self.threshold, self.grow)
        self._reference = np.where(change[..., None], image, reference)
        self._previous = image
        return change
