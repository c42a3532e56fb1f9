import numpy as np
import pytest

from vmat.metrics.instance import (
    IMQCounts,
    binary_iou_matrix,
    greedy_iou_match,
    hungarian_match,
    occluded_region,
    score_instances,
)


def _block(shape, rows, cols, value=1.0):
    a = np.zeros(shape)
    a[rows, cols] = value
    return a


def test_iou_matrix_hand_computed():
    gt = np.stack([_block((4, 4), slice(0, 2), slice(0, 2)), _block((4, 4), slice(2, 4), slice(2, 4))])
    pred = np.stack([_block((4, 4), slice(0, 2), slice(0, 3), 0.3)])  # 6 pixels, 4 shared with gt 0
    np.testing.assert_allclose(binary_iou_matrix(pred, gt), [[4 / 6, 0.0]])


def test_greedy_match_prefers_higher_iou_and_reports_leftovers():
    iou = np.array([[0.6, 0.7], [0.5, 0.0], [0.0, 0.0]])
    # Highest is (0, 1); then (1, 0) at 0.5 (pred 0 used). Pred 2 touches nothing.
    assert greedy_iou_match(iou) == [(0, 1), (1, 0), (2, None)]
    assert greedy_iou_match(np.array([[0.0]])) == [(None, 0), (0, None)]


def test_hungarian_match_threshold():
    iou = np.array([[0.6, 0.4], [0.45, 0.1]])
    # Optimal assignment maximises total IoU: (0, 0) + (1, 1) = 0.7 vs (0, 1) + (1, 0) = 0.85.
    tp, fp, fn = hungarian_match(iou)
    assert tp == [] and fp == 2 and fn == 2
    tp, fp, fn = hungarian_match(np.array([[0.9, 0.0], [0.0, 0.5]]))
    assert tp == [(0, 0), (1, 1)] and fp == 0 and fn == 0


def test_mpmat_errors_count_misses_and_false_positives_against_zero():
    shape = (4, 4)
    gt = np.stack([_block(shape, slice(0, 2), slice(0, 2)), _block(shape, slice(2, 4), slice(2, 4), 0.5)])
    # One perfect prediction of gt 0 and a false positive of 3 pixels at 0.25; gt 1 is missed.
    pred = np.stack([gt[0], _block(shape, 0, slice(2, 4), 0.25) + _block(shape, 1, 3, 0.25)])
    scores = score_instances(pred, gt)
    sads = sorted(p.sad * 1e3 for p in scores.pairs)
    # pairs: perfect (0), missed gt 1 vs zero (4 * 0.5 = 2), false positive vs zero (3 * 0.25 = 0.75)
    assert sads == pytest.approx([0.0, 0.75, 2.0])
    assert len(scores.pairs) == 3
    assert scores.imq.tp == 1 and scores.imq.fp == 1 and scores.imq.fn == 1
    assert scores.imq.scores()["imq_mad"] == pytest.approx(100 * 1.0 / (1 + 0.5 + 0.5))


def test_imq_similarity_uses_union_mean_and_w10():
    gt = np.zeros((1, 2, 5))
    gt[0, 0, :] = 1.0  # 5 pixels
    pred = gt.copy()
    pred[0, 0, 0] = 0.7  # one pixel off by 0.3 -> union 5 px, E_mad = 0.3 / (5 + 1) = 0.05, S = 0.5
    scores = score_instances(pred, gt)
    assert scores.imq.tp == 1
    assert scores.imq.scores()["imq_mad"] == pytest.approx(50.0)
    assert scores.imq.scores()["imq_mse"] == pytest.approx(100 * (1 - 10 * 0.09 / 6))


def test_imq_counts_accumulate_over_frames():
    total = IMQCounts()
    total += IMQCounts(tp=1, fp=0, fn=1, similarity={"mad": 0.5, "mse": 1.0, "grad": 1.0, "conn": 1.0})
    total += IMQCounts(tp=1, fp=1, fn=0, similarity={"mad": 1.0, "mse": 1.0, "grad": 0.0, "conn": 1.0})
    scores = total.scores()
    assert scores["imq_mad"] == pytest.approx(100 * 1.5 / 3)
    assert scores["imq_grad"] == pytest.approx(100 * 1.0 / 3)
    assert np.isnan(IMQCounts().scores()["imq_mse"])


def test_sad_occluded_split_adds_up():
    shape = (3, 4)
    gt = np.stack([_block(shape, slice(0, 3), slice(0, 3), 0.5), _block(shape, slice(0, 3), slice(2, 4), 0.5)])
    assert occluded_region(gt).sum() == 3  # column 2 is shared
    pred = np.stack([np.clip(gt[0] + 0.25, 0, 1) * (gt[0] > 0), gt[1]])
    scores = score_instances(pred, gt)
    first = next(p for p in scores.pairs if p.sad > 0)
    assert first.sad_occluded * 1e3 == pytest.approx(3 * 0.25)
    assert first.sad_non_occluded * 1e3 == pytest.approx(6 * 0.25)
    assert first.sad == pytest.approx(first.sad_occluded + first.sad_non_occluded)


def test_imq_ignores_faint_tails_below_one_8_bit_step():
    # gt: row 0 of a 3x4 frame (4 px). The prediction is exact plus a 1e-4 tail on the other 8 px.
    gt = np.zeros((1, 3, 4))
    gt[0, 0, :] = 1.0
    pred = np.where(gt > 0, 1.0, 1e-4)
    # With alpha > 0 the prediction covers 12 px: IoU 4/12 < 0.5, a miss and a false positive.
    assert binary_iou_matrix(pred, gt)[0, 0] == pytest.approx(4 / 12)
    scores = score_instances(pred, gt)
    # IMQ sees alpha >= 1/255: IoU 1, union 4 px, no error inside it -> S = 1 for every kind.
    assert (scores.imq.tp, scores.imq.fp, scores.imq.fn) == (1, 0, 0)
    assert scores.imq.scores()["imq_mad"] == pytest.approx(100.0)
    assert scores.imq.scores()["imq_mse"] == pytest.approx(100.0)
    # MP-Mat's pairing still sees the tail: its SAD counts 8 px of 1e-4.
    assert scores.pairs[0].sad * 1e3 == pytest.approx(8e-4)


def test_imq_threshold_is_one_8_bit_step_inclusive():
    gt = np.array([[[1.0, 1.0, 0.0, 0.0]]])
    pred = np.array([[[1.0, 1.0, 1 / 255, 0.5 / 255]]])
    # pixel 2 counts (alpha = 1/255), pixel 3 does not: IoU 2/3, union 3 px.
    assert binary_iou_matrix(pred, gt, min_alpha=1 / 255)[0, 0] == pytest.approx(2 / 3)
    scores = score_instances(pred, gt)
    assert scores.imq.tp == 1
    # E_mad = (1/255) / (3 + 1); E_mse = (1/255)^2 / 4; S = 1 - 10 E
    assert scores.imq.scores()["imq_mad"] == pytest.approx(100 * (1 - 10 / (255 * 4)))
    assert scores.imq.scores()["imq_mse"] == pytest.approx(100 * (1 - 10 / (255**2 * 4)))
    # Raised to 0.5/255 both tail pixels count: IoU 2/4 is still a match, over a 4 px union.
    loose = score_instances(pred, gt, min_alpha=0.5 / 255)
    assert loose.imq.scores()["imq_mad"] == pytest.approx(100 * (1 - 10 * 1.5 / (255 * 5)))
