"""Depth stage: frames in, relative depth out (smaller = nearer, in [0, 1]; see :mod:`vmat.depth.base`).

Two stages share the :class:`DepthEstimator` interface: the weight-free ground-plane prior refined by
instance masks (default) and Depth-Anything-V2-Small loaded from the user's checkpoint. Per-frame depth
is made temporally stable with :class:`DepthStabilizer`.
"""

from vmat.depth.base import DepthEstimator, disparity_to_depth, images_to_tensor
from vmat.depth.build import DEPTH_ESTIMATORS, build_depth_estimator
from vmat.depth.checkpoint import CheckpointError, load_state_dict_file
from vmat.depth.depth_anything_v2 import (
    DepthAnythingV2,
    DepthAnythingV2Config,
    DepthAnythingV2Estimator,
    load_depth_anything_v2,
)
from vmat.depth.ground_plane import GroundPlaneConfig, GroundPlaneDepth
from vmat.depth.stabilize import DepthStabilizer, StabilizerConfig, fit_scale_shift
from vmat.depth.video import DepthRunSummary, stream_depth, write_clip_depth

__all__ = [
    "DEPTH_ESTIMATORS",
    "CheckpointError",
    "DepthAnythingV2",
    "DepthAnythingV2Config",
    "DepthAnythingV2Estimator",
    "DepthEstimator",
    "DepthRunSummary",
    "DepthStabilizer",
    "GroundPlaneConfig",
    "GroundPlaneDepth",
    "StabilizerConfig",
    "build_depth_estimator",
    "disparity_to_depth",
    "fit_scale_shift",
    "images_to_tensor",
    "load_depth_anything_v2",
    "load_state_dict_file",
    "stream_depth",
    "write_clip_depth",
]
