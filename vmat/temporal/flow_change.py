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


def _is_identity(homography: np.ndarray) -> bool:
    return np.array_equal(homography, np.eye(3))


def _warp(image: np.ndarray, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` warped by ``homography`` onto a ``(width, height)`` frame (``image`` itself for the identity: a
    still camera's warp samples whole pixels and is an exact copy)."""
    if _is_identity(homography) and image.shape[1::-1] == size:
        return image
    return cv2.warpPerspective(image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma)


def _aligned_change(
    previous: np.ndarray, smoothed_current: np.ndarray, homography: np.ndarray, threshold: float, grow: int
) -> np.ndarray:
    """:func:`flow_change_map` with the camera's ``homography`` (previous -> current) given and the current frame
    already smoothed by :data:`RESAMPLING_SIGMA`."""
    size = (smoothed_current.shape[1], smoothed_current.shape[0])
    change = frame_change_map(_blur(_warp(previous, homography, size), RESAMPLING_SIGMA), smoothed_current, threshold, grow)
    if _is_identity(homography):  # covers the whole frame
        return change
    # The warped frame's edge is resampled from the border; a 1-px erosion keeps it out of the map.
    covered = cv2.warpPerspective(np.ones(size[::-1], np.uint8), homography, size, flags=cv2.INTER_NEAREST)
    covered = cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0
    return change | ~covered


def flow_change_map(previous: np.ndarray, current: np.ndarray, threshold: float = 12.0, grow: int = 4) -> np.ndarray:
    """``(H, W)`` bool change map of two ``(H, W, 3)`` uint8 frames with the camera's motion removed.

    Same ``threshold`` and ``grow`` as :func:`frame_change_map`, after both frames are smoothed by
    :data:`RESAMPLING_SIGMA`; pixels the warped previous frame does not cover (newly revealed) count as
    changed. When no alignment is found it is the plain :func:`frame_change_map`.
    """
    homography = camera_homography(previous, current)
    if homography is None:
        return frame_change_map(previous, current, threshold, grow)
    return _aligned_change(previous, _blur(current, RESAMPLING_SIGMA), homography, threshold, grow)


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
        self._smoothed: np.ndarray | None = None  # the previous image smoothed by RESAMPLING_SIGMA (None: it was not)

    def update(self, image: np.ndarray, homography: np.ndarray | None | str = ESTIMATE) -> np.ndarray:
        """``homography``: the camera's motion from the previous image to this one when known (the pipeline
        tracks it once per frame; ``None``: untracked, the frames are compared as they are), else
        :data:`ESTIMATE`: :func:`camera_homography` of the two frames."""
        if self._previous is None or self._previous.shape != image.shape:
            self._previous, self._reference, self._smoothed = image, image.copy(), None  # the reference is updated in place
            return np.ones(image.shape[:2], bool)
        if not self.align:
            homography = None
        elif isinstance(homography, str):
            homography = camera_homography(self._previous, image)
        smoothed = None
        if homography is None:
            change = frame_change_map(self._previous, image, self.threshold, self.grow)
        else:
            smoothed = _blur(image, RESAMPLING_SIGMA)
            if self._smoothed is not None and _is_identity(homography):  # the previous frame as it was smoothed
                change = frame_change_map(self._smoothed, smoothed, self.threshold, self.grow)
            else:
                change = _aligned_change(self._previous, smoothed, homography, self.threshold, self.grow)
        reference = self._reference if homography is None else _warp(self._reference, homography, image.shape[1::-1])
        slow = (_blur(frame, SLOW_CHANGE_SIGMA) for frame in (reference, image))
        change |= frame_change_map(*slow, self.threshold, self.grow)
        self._reference = cv2.copyTo(image, change.view(np.uint8), reference)  # ours: a copy or a warp
        self._previous, self._smoothed = image, smoothed
        return change
