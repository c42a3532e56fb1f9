"""Instance-aware matting scores: the MP-Mat matching (appendix F), SAD-O / SAD-NO (appendix I) and IMQ.

Both rules compare a set of predicted instance alphas ``(P, H, W)`` with the ground-truth set
``(G, H, W)`` (floats in [0, 1], in any order) and first pair them by the IoU of binary masks of the
alphas:

- MP-Mat (appendix F): greedy, highest IoU first, each ground truth and each prediction used once.
  A ground truth left over is scored against an all-zero prediction (a miss); a prediction left over
  against an all-zero ground truth (a false positive). We require IoU > 0 for a pair: masks that do
  not touch are a miss plus a false positive, not a match.
- IMQ (InstMatt eq. 16-18): Hungarian assignment on the IoU of ``alpha >= 1/255`` masks; an assigned
  pair is a true positive when its IoU >= 0.5. The paper writes ``alpha > 0``, but InstMatt's
  evaluation (``evaluation/IMQ.py`` with ``infer.py``) applies it to 8-bit PNGs written as
  ``uint8(alpha * 255)``, so a pixel counts only from ``alpha >= 1/255``; we use that threshold, so a
  method's faint tails (a softmax's ``1e-4`` everywhere) do not make its person cover the whole frame.
  ``S = 1 - min(w * E, 1)`` with ``w = 10``, where ``E`` is the per-pixel error (absolute, squared,
  gradient or connectivity, alpha in [0, 1]) summed over the pair's union region of the same masks
  (``pred >= 1/255 | gt >= 1/255``) and divided by the region's size plus one, as InstMatt's evaluation does;
  ``IMQ = sum_TP S / (TP + FP/2 + FN/2)``, reported x 100. Counts add up over frames, so IMQ over a set
  is computed from summed counts, not averaged per frame.

SAD-O and SAD-NO split each pair's SAD over occluded pixels (where at least two ground-truth
instances have alpha > 0) and the rest, so that ``SAD-O + SAD-NO = SAD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vmat.metrics.matting import CONN_SCALE, GRAD_SCALE, MAD_SCALE, MSE_SCALE, SAD_SCALE, ErrorMaps

IMQ_IOU_THRESHOLD = 0.5
IMQ_MIN_ALPHA = 1.0 / 255.0  # the smallest alpha InstMatt's 8-bit evaluation sees as the instance's
IMQ_BALANCE = 10.0
IMQ_KINDS = ("mad", "mse", "grad", "conn")


def _check_stack(name: str, alphas: np.ndarray) -> np.ndarray:
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 3:
        raise ValueError(f"{name} must be (N, H, W), got shape {alphas.shape}")
    return alphas


def instance_masks(alphas: np.ndarray, min_alpha: float | None = None) -> np.ndarray:
    """Binary masks of ``alphas``: ``alpha > 0`` (MP-Mat), or ``alpha >= min_alpha`` when given (IMQ)."""
    return alphas > 0 if min_alpha is None else alphas >= min_alpha


def binary_iou_matrix(pred: np.ndarray, gt: np.ndarray, min_alpha: float | None = None) -> np.ndarray:
    """IoU of every predicted mask with every ground-truth one, ``(P, G)``; 0 when both are empty.

    Masks are ``alpha > 0``, or ``alpha >= min_alpha`` when it is given (see :func:`instance_masks`).
    """
    pred_masks = instance_masks(_check_stack("pred", pred), min_alpha).reshape(len(pred), -1).astype(np.float64)
    gt_masks = instance_masks(_check_stack("gt", gt), min_alpha).reshape(len(gt), -1).astype(np.float64)
    intersection = pred_masks @ gt_masks.T
    union = pred_masks.sum(1)[:, None] + gt_masks.sum(1)[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def greedy_iou_match(iou: np.ndarray) -> list[tuple[int | None, int | None]]:
    """MP-Mat appendix F pairing of a ``(P, G)`` IoU matrix: ``(pred, gt)`` index pairs, ``None`` for unmatched.

    Matched pairs come first in decreasing IoU, then unmatched ground truths, then unmatched predictions.
    """
    num_pred, num_gt = iou.shape
    order = np.argsort(-iou, axis=None, kind="stable")
    used_pred: set[int] = set()
    used_gt: set[int] = set()
    pairs: list[tuple[int | None, int | None]] = []
    for flat in order:
        p, g = divmod(int(flat), num_gt)
        if iou[p, g] <= 0:
            break
        if p in used_pred or g in used_gt:
            continue
        used_pred.add(p)
        used_gt.add(g)
        pairs.append((p, g))
    pairs += [(None, g) for g in range(num_gt) if g not in used_gt]
    pairs += [(p, None) for p in range(num_pred) if p not in used_pred]
    return pairs


def hungarian_match(iou: np.ndarray, threshold: float = IMQ_IOU_THRESHOLD) -> tuple[list[tuple[int, int]], int, int]:
    """IMQ pairing: ``(true-positive (pred, gt) pairs, number of false positives, number of false negatives)``."""
    num_pred, num_gt = iou.shape
    if num_pred == 0 or num_gt == 0:
        return [], num_pred, num_gt
    rows, cols = linear_sum_assignment(-iou)
    tp = [(int(p), int(g)) for p, g in zip(rows, cols) if iou[p, g] >= threshold]
    return tp, num_pred - len(tp), num_gt - len(tp)


@dataclass(frozen=True)
class PairErrors:
    """The errors of one matched (or unmatched-vs-zero) pair, in reported units (see :mod:`vmat.metrics.matting`)."""

    sad: float
    mse: float
    mad: float
    grad: float
    conn: float
    sad_occluded: float
    sad_non_occluded: float


@dataclass
class IMQCounts:
    """Running IMQ tallies; add frames with ``+=``, read scores with :meth:`scores`."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    similarity: dict[str, float] = field(default_factory=lambda: dict.fromkeys(IMQ_KINDS, 0.0))

    def __iadd__(self, other: IMQCounts) -> IMQCounts:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        for kind in IMQ_KINDS:
            self.similarity[kind] += other.similarity[kind]
        return self

    def scores(self) -> dict[str, float]:
        """``{"imq_mad": ..., "imq_mse": ..., "imq_grad": ..., "imq_conn": ...}`` x 100 (NaN with nothing counted)."""
        denominator = self.tp + 0.5 * self.fp + 0.5 * self.fn
        if denominator == 0:
            return {f"imq_{kind}": float("nan") for kind in IMQ_KINDS}
        return {f"imq_{kind}": 100.0 * self.similarity[kind] / denominator for kind in IMQ_KINDS}


@dataclass
class InstanceScores:
    """Everything instance-aware about one frame: MP-Mat pair errors and the frame's IMQ counts."""

    pairs: list[PairErrors]
    imq: IMQCounts


def occluded_region(gt: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels where at least two ground-truth instances have alpha > 0 (MP-Mat appendix I)."""
    return (_check_stack("gt", gt) > 0).sum(axis=0) >= 2


def imq_similarity(maps: ErrorMaps, union: np.ndarray, w: float = IMQ_BALANCE) -> dict[str, float]:
    """``S = 1 - min(w * E, 1)`` per error kind, ``E`` the error summed over ``union`` / (its pixel count + 1)."""
    count = int(union.sum()) + 1
    errors = {
        "mad": maps.absolute[union].sum() / count,
        "mse": maps.squared[union].sum() / count,
        "grad": maps.gradient[union].sum() / count,
        "conn": maps.connectivity[union].sum() / count,
    }
    return {kind: 1.0 - min(w * float(error), 1.0) for kind, error in errors.items()}


def score_instances(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    w: float = IMQ_BALANCE,
    threshold: float = IMQ_IOU_THRESHOLD,
    min_alpha: float = IMQ_MIN_ALPHA,
) -> InstanceScores:
    """Match ``pred`` ``(P, H, W)`` to ``gt`` ``(G, H, W)`` both ways and score every pair.

    MP-Mat's pairs come from ``alpha > 0`` masks, IMQ's from ``alpha >= min_alpha`` masks (module docstring).

    Error maps are computed once per pair and shared by the two rules.
    """
    pred = _check_stack("pred", pred)
    gt = _check_stack("gt", gt)
    if pred.shape[1:] != gt.shape[1:]:
        raise ValueError(f"pred and gt frames differ in size: {pred.shape[1:]} vs {gt.shape[1:]}")
    zeros = np.zeros(gt.shape[1:])
    iou = binary_iou_matrix(pred, gt)
    occluded = occluded_region(gt)
    cache: dict[tuple[int | None, int | None], ErrorMaps] = {}

    def maps_of(p: int | None, g: int | None) -> ErrorMaps:
        if (p, g) not in cache:
            cache[(p, g)] = ErrorMaps.of(zeros if p is None else pred[p], zeros if g is None else gt[g])
        return cache[(p, g)]

    pair_errors = []
    for p, g in greedy_iou_match(iou):
        maps = maps_of(p, g)
        pair_errors.append(
            PairErrors(
                sad=maps.absolute.sum() * SAD_SCALE,
                mse=maps.squared.mean() * MSE_SCALE,
                mad=maps.absolute.mean() * MAD_SCALE,
                grad=maps.gradient.sum() * GRAD_SCALE,
                conn=maps.connectivity.sum() * CONN_SCALE,
                sad_occluded=maps.absolute[occluded].sum() * SAD_SCALE,
                sad_non_occluded=maps.absolute[~occluded].sum() * SAD_SCALE,
            )
        )

    tp, fp, fn = hungarian_match(binary_iou_matrix(pred, gt, min_alpha), threshold)
    counts = IMQCounts(tp=len(tp), fp=fp, fn=fn)
    for p, g in tp:
        union = instance_masks(pred[p], min_alpha) | instance_masks(gt[g], min_alpha)
        for kind, value in imq_similarity(maps_of(p, g), union, w).items():
            counts.similarity[kind] += value
    return InstanceScores(pair_errors, counts)
