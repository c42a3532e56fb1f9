"""Mask quality as in DAVIS: region similarity J (IoU) and boundary accuracy F, per instance.

Inputs are id masks: ``(H, W)`` integer arrays where 0 is background and ``k > 0`` marks instance ``k``.
The same functions serve mask propagation and the matting harness (which thresholds alphas at 0.5).

Boundaries are the mask pixels with a 4-neighbour outside the mask (outside the image counts as
outside). A boundary pixel is matched when the other boundary lies within ``ceil(0.008 * diagonal)``
pixels (a disk), the DAVIS default. Conventions for empty masks follow DAVIS: J = 1 when both are
empty; F = 1 when both boundaries are empty, 0 when exactly one is.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

BOUNDARY_TOLERANCE = 0.008


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two ``(H, W)`` boolean masks; 1 when both are empty."""
    pred = np.asarray(pred, bool)
    gt = np.asarray(gt, bool)
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


def mask_boundary(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels of ``mask`` with at least one 4-neighbour outside it."""
    mask = np.asarray(mask, bool)
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def _disk(radius: int) -> np.ndarray:
    u = np.arange(-radius, radius + 1)
    return ((u[:, None] ** 2 + u[None, :] ** 2) <= radius**2).astype(np.uint8)


def boundary_f_measure(pred: np.ndarray, gt: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """DAVIS F of two ``(H, W)`` boolean masks. ``tolerance`` < 1 is a fraction of the diagonal, else pixels."""
    pred_boundary = mask_boundary(pred)
    gt_boundary = mask_boundary(gt)
    height, width = pred_boundary.shape
    radius = tolerance if tolerance >= 1 else math.ceil(tolerance * math.hypot(height, width))
    disk = _disk(int(radius))
    gt_near = cv2.dilate(gt_boundary.astype(np.uint8), disk).astype(bool)
    pred_near = cv2.dilate(pred_boundary.astype(np.uint8), disk).astype(bool)
    num_pred = int(pred_boundary.sum())
    num_gt = int(gt_boundary.sum())
    if num_pred == 0 and num_gt == 0:
        return 1.0
    if num_pred == 0 or num_gt == 0:
        return 0.0
    precision = float((pred_boundary & gt_near).sum() / num_pred)
    recall = float((gt_boundary & pred_near).sum() / num_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def j_and_f(pred_ids: np.ndarray, gt_ids: np.ndarray, instance_ids: list[int] | None = None) -> dict[int, tuple[float, float]]:
    """``{instance id: (J, F)}`` for two ``(H, W)`` id masks; ids default to those > 0 in ``gt_ids``."""
    pred_ids = np.asarray(pred_ids)
    gt_ids = np.asarray(gt_ids)
    if pred_ids.shape != gt_ids.shape:
        raise ValueError(f"id masks differ in shape: {pred_ids.shape} vs {gt_ids.shape}")
    if instance_ids is None:
        instance_ids = [int(i) for i in np.unique(gt_ids) if i > 0]
    return {k: (jaccard(pred_ids == k, gt_ids == k), boundary_f_measure(pred_ids == k, gt_ids == k)) for k in instance_ids}
