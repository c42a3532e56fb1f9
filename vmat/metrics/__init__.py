"""Scores for matting, instance matting, temporal coherence, editing, masks and depth order.

Each module states its definitions and the units its numbers are reported in; see
:mod:`vmat.metrics.matting` for SAD/MSE/MAD/Grad/Conn, :mod:`vmat.metrics.instance` for the MP-Mat
matching, SAD-O/SAD-NO and IMQ, :mod:`vmat.metrics.temporal` for dtSSD/MESSDdt and the warp error,
:mod:`vmat.metrics.editing` for edit L1/L2/PSNR, :mod:`vmat.metrics.segmentation` for J&F and
:mod:`vmat.metrics.depth_order` for pairwise depth-order accuracy.
"""

from vmat.metrics.depth_order import instance_depths, pairwise_order_accuracy, pairwise_order_counts
from vmat.metrics.editing import mean_l1, mean_l2, psnr
from vmat.metrics.instance import (
    IMQCounts,
    InstanceScores,
    PairErrors,
    binary_iou_matrix,
    greedy_iou_match,
    hungarian_match,
    occluded_region,
    score_instances,
)
from vmat.metrics.matting import (
    ErrorMaps,
    connectivity_error,
    connectivity_error_map,
    gradient_error,
    gradient_error_map,
    mad,
    mse,
    sad,
)
from vmat.metrics.segmentation import boundary_f_measure, j_and_f, jaccard, mask_boundary
from vmat.metrics.temporal import dtssd, frame_warp_error, messddt, source_flows, warp_error

__all__ = [
    "ErrorMaps",
    "IMQCounts",
    "InstanceScores",
    "PairErrors",
    "binary_iou_matrix",
    "boundary_f_measure",
    "connectivity_error",
    "connectivity_error_map",
    "dtssd",
    "frame_warp_error",
    "gradient_error",
    "gradient_error_map",
    "greedy_iou_match",
    "hungarian_match",
    "instance_depths",
    "j_and_f",
    "jaccard",
    "mad",
    "mask_boundary",
    "mean_l1",
    "mean_l2",
    "messddt",
    "mse",
    "occluded_region",
    "pairwise_order_accuracy",
    "pairwise_order_counts",
    "psnr",
    "sad",
    "score_instances",
    "source_flows",
    "warp_error",
]
