import cv2
import numpy as np
import pytest

from vmat.filters import box_mean, grey_guided_filter, guided_filter, normalised_convolution


def test_box_mean_matches_a_direct_window_mean():
    image = np.arange(35, dtype=np.float32).reshape(5, 7)
    # interior pixel (2, 3) with radius 1: the mean of the 3x3 block around it
    assert box_mean(image, 1)[2, 3] == pytest.approx(image[1:4, 2:5].mean())


def test_colour_guided_filter_keeps_a_signal_that_is_affine_in_the_guide():
    """q = a . I + b reproduces any p that is exactly affine in the guide (its defining property)."""
    rng = np.random.default_rng(1)
    guide = rng.random((20, 24, 3)).astype(np.float32)
    source = (0.3 * guide[..., 0] - 0.2 * guide[..., 1] + 0.5 * guide[..., 2] + 0.1).astype(np.float32)
    assert np.abs(guided_filter(guide, source, radius=2, eps=1e-8) - source).max() < 1e-3


def test_grey_guided_filter_keeps_constants_and_linear_functions_of_the_guide():
    rng = np.random.default_rng(1)
    guide = rng.uniform(0, 1, (12, 15)).astype(np.float32)
    constant = np.full((12, 15), 0.3, np.float32)
    np.testing.assert_allclose(grey_guided_filter(guide, constant, 2, 1e-3), constant, atol=1e-5)
    linear = (0.5 * guide + 0.2).astype(np.float32)
    np.testing.assert_allclose(grey_guided_filter(guide, linear, 2, 1e-8), linear, atol=1e-3)


def test_grey_guided_filter_snaps_a_blurred_step_to_the_guide_edge():
    guide = np.zeros((10, 40), np.float32)
    guide[:, 20:] = 1
    blurred = cv2.GaussianBlur(guide, (0, 0), 3)
    snapped = grey_guided_filter(guide, np.dstack([blurred, 1 - blurred]), 4, 1e-4)
    assert snapped.shape == (10, 40, 2)
    hard = snapped[..., 0] > snapped[..., 1]
    np.testing.assert_array_equal(hard, guide > 0.5)
    # Sharper than the input next to the edge.
    assert abs(snapped[5, 18, 0]) < abs(blurred[5, 18])


def test_normalised_convolution_averages_only_the_weighted_pixels_and_its_coarse_grid_follows():
    rng = np.random.default_rng(2)
    height, width = 96, 128
    grain = rng.random((height, width)).astype(np.float32)
    # Left half a smooth ramp in the mask, right half noise outside it, which must never enter the mean.
    ramp = np.tile(np.linspace(0.2, 0.4, width, dtype=np.float32), (height, 1))
    image = np.where(np.arange(width) < width // 2, ramp, 5.0 + grain).astype(np.float32)
    known = np.broadcast_to(np.arange(width) < width // 2, (height, width))
    colour = np.dstack([image, 2 * image])
    (grey, pair), spread = normalised_convolution(known, 12.0, image, colour)
    assert grey.shape == (height, width) and pair.shape == (height, width, 2) and spread.shape == (height, width)
    reached = spread > 1e-4
    assert reached[:, width // 2 + 12].all()  # a Gaussian of 12 px reaches a sigma into the noise
    assert grey[reached].max() < 0.41 and grey[reached].min() > 0.19  # the noise (>= 5) is left out
    assert not grey[:, -1].any()  # beyond reach the mean is 0, not noise
    np.testing.assert_allclose(pair[..., 1], 2 * grey, rtol=1e-5)
    assert spread[:, : width // 4].min() > 10 * spread[:, -8:].max()  # the weight says how much each mean rests on
    (coarse,), small = normalised_convolution(known, 12.0, image, step=3)
    assert small.shape == (height // 3, width // 3)
    np.testing.assert_allclose(coarse[:, : width // 2], grey[:, : width // 2], atol=0.01)
