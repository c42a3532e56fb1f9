"""Camera motion between consecutive frames, estimated once per frame for the whole pipeline.

* :class:`CameraTracker`: stateful, one per clip; ``update(image, background)`` returns the 3x3
  homography from the previous frame's pixels to this one's, tracked on the visible background only
  (KLT features carried from frame to frame, RANSAC fit), at a reduced working size;
* :func:`estimate_motion`: the same estimate for one pair of frames, from scratch at full size;
* :func:`corner_shift`, :func:`corner_error`, :func:`rescale_homography`: plain geometry on homographies.
"""

from vmat.camera.geometry import corner_error, corner_shift, frame_corners, rescale_homography
from vmat.camera.tracking import CameraTracker, TrackerConfig, estimate_motion

__all__ = [
    "CameraTracker",
    "TrackerConfig",
    "corner_error",
    "corner_shift",
    "estimate_motion",
    "frame_corners",
    "rescale_homography",
]
