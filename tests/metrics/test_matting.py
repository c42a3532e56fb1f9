import numpy as np
import pytest

from vmat.metrics.matting import (
    connectivity_error,
    connectivity_error_map,
    gaussian_derivative_filters,
    gradient_error,
    mad,
    mse,
    sad,
)


def test_sad_mse_mad_hand_computed():
    gt = np.array([[0.0, 1.0], [0.5, 0.25]])
    pred = np.array([[0.5, 1.0], [0.0, 0.75]])
    # |diff| = 0.5, 0, 0.5, 0.5 -> sum 1.5; squared sum 0.75
    assert sad(pred, gt) == pytest.approx(1.5e-3, abs=1e-15)
    assert mad(pred, gt) == pytest.approx(1.5 / 4 * 1e3)
    assert mse(pred, gt) == pytest.approx(0.75 / 4 * 1e3)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        sad(np.zeros((2, 2)), np.zeros((2, 3)))


def test_gradient_filters_have_unit_norm_and_are_antisymmetric():
    fx, fy = gaussian_derivative_filters(1.4)
    assert fx.shape == (9, 9)  # half size ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) 1.4 0.01))) = 4
    assert np.sum(fx**2) == pytest.approx(1.0)
    np.testing.assert_allclose(fx, -fx[:, ::-1])
    np.testing.assert_array_equal(fy, fx.T)


def test_gradient_error_of_an_impulse_is_two_filter_energies():
    # An impulse far from the border: its gradient field is the two unit-norm filters themselves,
    # so sum(|grad|^2) = sum(fx^2) + sum(fy^2) = 2 exactly; the flat ground truth has no gradient.
    pred = np.zeros((21, 21))
    pred[10, 10] = 1.0
    gt = np.zeros((21, 21))
    assert gradient_error(pred, gt) == pytest.approx(2.0e-3)
    assert gradient_error(gt, gt) == 0.0


def test_connectivity_single_dip_hand_computed():
    gt = np.ones((3, 3))
    pred = np.ones((3, 3))
    pred[1, 1] = 0.5
    # The centre leaves the shared component at t = 0.6, so l = 0.5 there and 1 elsewhere:
    # phi_pred = 1 - 0 = 1, phi_gt = 1 - 0.5 = 0.5 at the centre, equal elsewhere.
    expected = np.zeros((3, 3))
    expected[1, 1] = 0.5
    np.testing.assert_allclose(connectivity_error_map(pred, gt), expected)
    assert connectivity_error(pred, gt) == pytest.approx(0.5e-3)


def test_connectivity_counts_a_correct_but_disconnected_pixel_zero_and_a_hole_one():
    gt = np.ones((1, 5))
    pred = np.array([[1.0, 1.0, 1.0, 0.0, 1.0]])
    # At t = 0.1 the largest shared component is pixels 0-2; pixels 3 and 4 get l = 0.
    # Pixel 3: phi_pred = 1 (d = 0), phi_gt = 1 - 1 = 0 -> 1. Pixel 4: both phi = 0 -> 0.
    np.testing.assert_allclose(connectivity_error_map(pred, gt), [[0, 0, 0, 1, 0]])


def test_connectivity_ignores_small_disconnection():
    gt = np.ones((1, 3))
    pred = np.array([[1.0, 0.9, 1.0]])
    # l = 0.9 at the middle pixel: pred d = 0 -> phi 1; gt d = 0.1 < 0.15 -> phi 1.
    assert connectivity_error(pred, gt) == 0.0
