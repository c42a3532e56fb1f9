import math

import numpy as np
import pytest

from vmat.metrics.depth_order import instance_depths, pairwise_order_accuracy, pairwise_order_counts
from vmat.metrics.editing import mean_l1, mean_l2, psnr
from vmat.metrics.segmentation import boundary_f_measure, j_and_f, jaccard, mask_boundary
from vmat.metrics.temporal import dtssd, messddt


def test_dtssd_hand_computed():
    gt_prev = np.zeros((2, 2))
    gt = np.zeros((2, 2))
    pred_prev = np.zeros((2, 2))
    pred = np.array([[0.2, 0.0], [0.0, 0.0]])
    # change error 0.2 at one of 4 pixels: sqrt(0.04 / 4) = 0.1 -> x100 = 10
    assert dtssd(pred, pred_prev, gt, gt_prev) == pytest.approx(10.0)
    # an error that stays the same is not temporal incoherence
    assert dtssd(pred, pred, gt, gt) == 0.0


def test_messddt_with_given_motion_hand_computed():
    gt_prev = np.zeros((1, 4))
    gt_prev[0, 1] = 1.0
    gt = np.zeros((1, 4))
    gt[0, 2] = 1.0  # moved one pixel right: gt(p) = gt_prev(p - 1)
    flow = np.zeros((1, 4, 2), np.float32)
    flow[..., 0] = -1.0
    # an error that moves with the object costs nothing
    pred_prev = gt_prev.copy()
    pred_prev[0, 1] = 0.5
    pred = gt.copy()
    pred[0, 2] = 0.5
    assert messddt(pred, pred_prev, gt, gt_prev, flow) == pytest.approx(0.0, abs=1e-9)
    # an error that appears: E_t = 0.25 at one pixel, nothing before -> mean 0.0625 -> x1000
    assert messddt(pred, gt_prev, gt, gt_prev, flow) == pytest.approx(62.5)


def test_editing_scores_hand_computed():
    gt = np.zeros((2, 2, 3), np.uint8)
    pred = gt.copy()
    pred[0, 0, 0] = 255  # one of 12 values off by 1.0
    assert mean_l1(pred, gt) == pytest.approx(100 / 12)
    assert mean_l2(pred, gt) == pytest.approx(100 / 12)
    assert psnr(pred, gt) == pytest.approx(10 * math.log10(12))
    assert psnr(gt, gt) == math.inf


def test_jaccard_and_empty_convention():
    a = np.zeros((3, 3), bool)
    b = np.zeros((3, 3), bool)
    assert jaccard(a, b) == 1.0
    a[0, :] = True
    b[0, :2] = True
    b[1, 0] = True
    assert jaccard(a, b) == pytest.approx(2 / 4)


def test_mask_boundary_of_a_square():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    expected = mask.copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(mask_boundary(mask), expected)


def test_boundary_f_hand_computed():
    # 10x10 image: tolerance ceil(0.008 * 14.14) = 1 pixel.
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True  # boundary: 12 pixels
    assert boundary_f_measure(gt, gt) == 1.0
    shifted = np.zeros_like(gt)
    shifted[2:6, 3:7] = True  # one pixel right: every boundary pixel within 1 px of the other
    assert boundary_f_measure(shifted, gt) == 1.0
    far = np.zeros_like(gt)
    far[2:6, 5:9] = True  # three pixels right: only the overlapping column parts match
    # far boundary: 12 px; within 1 px (disk) of gt boundary: column 5 (4 px) + rows 2,5 at col 6 (2) -> 6
    # gt boundary within 1 px of far boundary: column 5 (4) + rows 2,5 at col 4 (2) -> 6
    assert boundary_f_measure(far, gt) == pytest.approx(0.5)
    assert boundary_f_measure(np.zeros_like(gt), gt) == 0.0


def test_j_and_f_per_instance():
    gt = np.zeros((6, 6), int)
    gt[0:2, 0:2] = 1
    gt[3:6, 3:6] = 2
    pred = gt.copy()
    pred[pred == 2] = 0
    scores = j_and_f(pred, gt)
    assert scores[1] == (1.0, 1.0)
    assert scores[2] == (0.0, 0.0)


def test_pairwise_order_hand_computed():
    gt = np.array([1.0, 2.0, 3.0])
    assert pairwise_order_accuracy(np.array([10.0, 20.0, 30.0]), gt) == 1.0
    # swap of the two farthest: pairs (0,1) ok, (0,2) ok, (1,2) wrong
    assert pairwise_order_counts(np.array([1.0, 3.0, 2.0]), gt) == (2, 3)
    # a tie in the prediction is wrong; a missing instance drops its pairs
    assert pairwise_order_counts(np.array([1.0, 1.0, np.nan]), gt) == (0, 1)
    assert math.isnan(pairwise_order_accuracy(np.array([1.0]), np.array([1.0])))


def test_instance_depths_median():
    depth = np.array([[1.0, 2.0, 9.0], [3.0, 5.0, 9.0]])
    masks = np.zeros((2, 2, 3), bool)
    masks[0, :, :2] = True
    np.testing.assert_allclose(instance_depths(depth, masks), [2.5, np.nan])
