"""Stage 5: temporal consistency of the mattes.

Today: forward-backward matte fusion (MaGGIe eq. 12-14) with change maps from frame differences, the
weight-free path (:mod:`vmat.temporal.fusion`). The temporal sparsity predictor and the bidirectional
Conv-GRU are not built yet.
"""

from vmat.temporal.fusion import ForwardBackwardFusion, FusionConfig, frame_change_map, fuse

__all__ = ["ForwardBackwardFusion", "FusionConfig", "frame_change_map", "fuse"]
