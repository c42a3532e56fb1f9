"""Stage 5: temporal consistency of the mattes.

Today: forward-backward matte fusion (MaGGIe eq. 12-14) with change maps from frame differences, the
weight-free path (:mod:`vmat.temporal.fusion`). The temporal sparsity predictor and the bidirectional
Conv-GRU are not built yet.
"""

from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig, frame_change_map, fuse

__all__ = ["ForwardBackwardFusion", "FusionConfig", "frame_change_map", "fuse"]

# The learned temporal refiner (sparsity predictor, bidirectional Conv-GRU, soft fusion) and its stream.
from vmat.temporal.build import TEMPORAL_REFINERS, build_temporal_refiner
from vmat.temporal.checkpoint import load_temporal_checkpoint, save_temporal_checkpoint
from vmat.temporal.flow_change import camera_homography, flow_change_map
from vmat.temporal.losses import TemporalLossConfig, temporal_loss
from vmat.temporal.refiner import RefinerOutput, TemporalRefiner, TemporalRefinerConfig
from vmat.temporal.soft_fusion import soft_fusion
from vmat.temporal.sparsity import SparsityPredictor, change_target
from vmat.temporal.streaming import StreamConfig, TemporalRefinerStream

__all__ += [
    "TEMPORAL_REFINERS",
    "RefinerOutput",
    "SparsityPredictor",
    "StreamConfig",
    "TemporalLossConfig",
    "TemporalRefiner",
    "TemporalRefinerConfig",
    "TemporalRefinerStream",
    "build_temporal_refiner",
    "camera_homography",
    "change_target",
    "flow_change_map",
    "load_temporal_checkpoint",
    "save_temporal_checkpoint",
    "soft_fusion",
    "temporal_loss",
]
