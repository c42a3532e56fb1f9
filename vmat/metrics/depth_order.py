"""Depth ordering between instances: the share of instance pairs whose near/far order is right.

A pair counts when both instances have a depth in both the prediction and the ground truth and the
ground-truth depths differ; it is right when the predicted depths order it the same way (a predicted
tie is wrong). Depth is distance from the camera: smaller is nearer.
"""

from __future__ import annotations

import numpy as np


def pairwise_order_counts(pred_depth: np.ndarray, gt_depth: np.ndarray) -> tuple[int, int]:
    """``(right, counted)`` over the instance pairs of ``(N,)`` depth vectors; NaN marks an instance without depth."""
    pred_depth = np.asarray(pred_depth, np.float64)
    gt_depth = np.asarray(gt_depth, np.float64)
    if pred_depth.shape != gt_depth.shape or pred_depth.ndim != 1:
        raise ValueError(f"expected two (N,) depth vectors, got {pred_depth.shape} and {gt_depth.shape}")
    i, j = np.triu_indices(len(gt_depth), k=1)
    gt_sign = np.sign(gt_depth[j] - gt_depth[i])
    pred_sign = np.sign(pred_depth[j] - pred_depth[i])
    counted = (gt_sign != 0) & ~np.isnan(gt_sign) & ~np.isnan(pred_sign)
    return int((pred_sign[counted] == gt_sign[counted]).sum()), int(counted.sum())


def pairwise_order_accuracy(pred_depth: np.ndarray, gt_depth: np.ndarray) -> float:
    """Fraction of counted pairs ordered right (NaN when no pair counts)."""
    right, counted = pairwise_order_counts(pred_depth, gt_depth)
    return right / counted if counted else float("nan")


def instance_depths(depth_map: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Median of ``depth_map`` ``(H, W)`` inside each of ``masks`` ``(N, H, W)``: ``(N,)``, NaN for an empty mask."""
    depth_map = np.asarray(depth_map, np.float64)
    return np.array([np.median(depth_map[m]) if m.any() else np.nan for m in np.asarray(masks, bool)])
