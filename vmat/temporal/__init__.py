"""Stage 5: temporal consistency of the mattes (MaGGIe supplementary 7.8-7.9).

- the weight-free path: matte fusion (eq. 12-14, :mod:`vmat.temporal.fusion`; the pipeline's default is eq. 12,
  holding each matte while its picture holds) with change maps from :class:`ChangeTracker`, which compares
  frames aligned for camera motion (:mod:`vmat.temporal.flow_change`);
- the learned refiner (:mod:`vmat.temporal.refiner`): temporal sparsity prediction, a bidirectional
  Conv-GRU and a residual decoder, trained through the differentiable fusion (:mod:`vmat.temporal.soft_fusion`);
- :class:`TemporalRefinerStream`: both, streamed with a bounded look-ahead (what the pipeline's temporal
  stage runs).
"""

from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig, frame_change_map, fuse

__all__ = ["ForwardBackwardFusion", "FusionConfig", "frame_change_map", "fuse"]

from vmat.temporal.build import TEMPORAL_REFINERS, build_temporal_refiner
from vmat.temporal.checkpoint import load_temporal_checkpoint, read_temporal_checkpoint, save_temporal_checkpoint
from vmat.temporal.flow_change import ChangeTracker, camera_homography, flow_change_map
from vmat.temporal.losses import TemporalLossConfig, temporal_loss
from vmat.temporal.refiner import RefinerOutput, TemporalRefiner, TemporalRefinerConfig
from vmat.temporal.soft_fusion import soft_fusion
from vmat.temporal.sparsity import SparsityPredictor, change_target
from vmat.temporal.streaming import StreamConfig, TemporalRefinerStream

__all__ += [
    "ChangeTracker",
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
    "read_temporal_checkpoint",
    "save_temporal_checkpoint",
    "soft_fusion",
    "temporal_loss",
]
