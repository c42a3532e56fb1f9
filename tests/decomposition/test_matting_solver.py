"""The trimap and the closed-form band solver (vmat.matting) on tiny images where the answer is known."""

import numpy as np
import pytest

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer
from vmat.matting import UNKNOWN, SolverConfig, TrimapConfig, solve_band, trimap_from_mask
from vmat.matting.laplacian import band_system
from vmat.matting.solve import guided_upsample
from vmat.matting.trimap import band_pixels, top_of_silhouette

CONVERGED = SolverConfig(iterations=5000, tolerance=1e-10)


def _dense_laplacian(image: np.ndarray, eps: float) -> np.ndarray:
    """Levin et al.'s matting Laplacian by its definition, window by window (3x3 windows inside the image)."""
    height, width = image.shape[:2]
    laplacian = np.zeros((height * width, height * width))
    for y in range(1, height - 1):
        for x in range(1, width - 1):
            pixels = [(y + dy) * width + (x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            colours = image.reshape(-1, 3)[pixels].astype(np.float64)
            mean = colours.mean(0)
            covariance = (colours - mean).T @ (colours - mean) / 9 + eps / 9 * np.eye(3)
            centred = colours - mean
            laplacian[np.ix_(pixels, pixels)] += np.eye(9) - (1 + centred @ np.linalg.inv(covariance) @ centred.T) / 9
    return laplacian


def test_band_system_is_the_matting_laplacian_restricted_to_the_unknown_pixels():
    rng = np.random.default_rng(0)
    image = rng.random((7, 9, 3))
    unknown = np.zeros((7, 9), bool)
    unknown[2:5, 1:8] = True
    unknown[0, 0] = True  # a corner pixel: only one window holds it
    known = (rng.random((7, 9)) > 0.5).astype(np.float64)
    eps = 1e-3
    system = band_system(image, known, unknown, eps)
    laplacian = _dense_laplacian(image, eps)
    u, k = unknown.ravel(), ~unknown.ravel()
    np.testing.assert_allclose(system.matrix.toarray(), laplacian[np.ix_(u, u)], atol=1e-10)
    np.testing.assert_allclose(system.rhs, -laplacian[np.ix_(u, k)] @ known.ravel()[k], atol=1e-10)


def test_a_trimap_without_unknown_band_returns_the_mask():
    mask = np.zeros((20, 30), bool)
    mask[5:15, 8:22] = True
    trimap = trimap_from_mask(mask, TrimapConfig(band=0.0, hair_band=0.0, min_pixels=0))
    assert not (trimap == UNKNOWN).any()
    image = np.random.default_rng(2).random((20, 30, 3)).astype(np.float32)
    np.testing.assert_array_equal(solve_band(image, trimap), mask.astype(np.float32))
    config = MaskMattingConfig(trimap=TrimapConfig(band=0.0, hair_band=0.0, min_pixels=0))
    stack = MaskMattingDecomposer(config).decompose((image * 255).astype(np.uint8), mask.astype(np.uint8))
    np.testing.assert_array_equal(stack.alpha[1].numpy(), mask.astype(np.float32))


def _two_colour_ramp(height=24, width=40, start=12, stop=28):
    """Foreground and background colours mixed by alpha rising linearly from column ``start`` to ``stop``."""
    alpha = np.clip((np.arange(width) - start) / (stop - start), 0, 1)[None, :].repeat(height, 0)
    foreground, background = np.array([0.9, 0.6, 0.2]), np.array([0.1, 0.2, 0.5])
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return image, alpha


def test_solver_recovers_a_linear_alpha_ramp_between_two_colours():
    image, alpha = _two_colour_ramp()
    trimap = np.where(alpha >= 1, 1.0, 0.0)
    trimap[:, 8:32] = UNKNOWN  # the band holds the whole ramp and 4 px of flat colour each side
    solved = solve_band(image, trimap, CONVERGED)
    # With two colours alpha is exactly affine in the colour, so the true alpha costs only the eps term
    # (eps * |slope|^2 per window, slope = 1/|F - B| = 1.1): the solution is the truth up to ~1e-6.
    np.testing.assert_allclose(solved, alpha, atol=1e-4)


def test_guided_upsampling_of_a_half_size_solve_keeps_the_ramp():
    image, alpha = _two_colour_ramp(height=48, width=80, start=24, stop=56)
    small_image, small_alpha = image[::2, ::2].astype(np.float32), alpha[::2, ::2]
    trimap = np.where(small_alpha >= 1, 1.0, 0.0)
    trimap[:, 8:32] = UNKNOWN
    solved = guided_upsample(small_image, solve_band(small_image, trimap, CONVERGED), image.astype(np.float32))
    # The half-size alpha is affine in colour and the guided upsampling refits that affine map per window, so
    # away from the ramp's two kinks it is exact up to float error. At a kink a window's colour barely varies
    # (variance ~6e-4 against the regulariser eps 1e-4), so the refit keeps only ~85% of the local slope there:
    # an error under 0.01.
    kinks = (np.abs(np.arange(80) - 24) <= 4) | (np.abs(np.arange(80) - 56) <= 4)
    assert np.abs(solved - alpha)[:, kinks].max() < 0.01
    assert np.abs(solved - alpha)[:, ~kinks].max() < 1e-3


def test_multilevel_solve_with_few_steps_is_near_the_converged_one():
    image, alpha = _two_colour_ramp(height=64, width=96, start=30, stop=66)
    trimap = np.where(alpha >= 1, 1.0, 0.0)
    trimap[:, 20:76] = UNKNOWN
    one_level = solve_band(image, trimap, SolverConfig(iterations=10, levels=1))
    three_levels = solve_band(image, trimap, SolverConfig(iterations=10, levels=3))
    # 10 steps from 0.5 cannot carry the known values across a 56-px band; from the coarser levels' answer they need not.
    assert np.abs(three_levels - alpha).max() < 0.02 < np.abs(one_level - alpha).max()


def test_matches_pymatting_closed_form_on_the_same_trimap():
    pymatting = pytest.importorskip("pymatting")
    rng = np.random.default_rng(3)
    image = np.clip(rng.random((30, 40, 3)) * 0.3 + _two_colour_ramp(30, 40)[0], 0, 1)
    mask = np.zeros((30, 40), bool)
    mask[8:24, 10:30] = True
    trimap = trimap_from_mask(mask, TrimapConfig(band=0.1, hair_band=0.1))
    expected = pymatting.estimate_alpha_cf(image, trimap.astype(np.float64), cg_kwargs={"atol": 1e-12, "maxiter": 5000})
    np.testing.assert_allclose(solve_band(image, trimap, CONVERGED), expected, atol=1e-4)


def test_trimap_band_is_wider_at_the_top_of_the_silhouette():
    mask = np.zeros((100, 60), bool)
    mask[20:90, 20:40] = True
    config = TrimapConfig(band=0.02, hair_band=0.06, head=0.2, band_of_height=1.0, hair_band_of_height=1.0, min_pixels=2)
    trimap = trimap_from_mask(mask, config)  # 2 and 6 px
    unknown = trimap == UNKNOWN
    assert unknown[20 - 6, 30] and not unknown[20 - 7, 30]  # above the head: 6 px
    assert unknown[21, 30] and not unknown[22, 30]  # inside the head only the narrow 2 px
    assert unknown[89 + 2, 30] and not unknown[89 + 3, 30]  # below the feet: 2 px
    assert unknown[60, 20 - 2] and not unknown[60, 20 - 3]  # the side, far from the head: 2 px
    assert trimap[50, 30] == 1.0 and trimap[5, 5] == 0.0
    assert top_of_silhouette(mask, 0.2)[20:34].all() and not top_of_silhouette(mask, 0.2)[34].any()


def test_band_is_capped_by_the_subjects_height():
    mask = np.zeros((400, 600), bool)
    mask[300:350, 100:120] = True  # a subject 50 px tall in a 600 px frame
    config = TrimapConfig(band=0.02, hair_band=0.04, band_of_height=0.1, hair_band_of_height=0.2, min_pixels=1)
    assert band_pixels(mask, config) == (5, 10)  # not 12 and 24 px from the frame's size
    assert band_pixels(mask, config, longer_side=100) == (2, 4)  # the frame fractions win for a small frame


def test_trimap_keeps_occlusion_edges_hard():
    mask = np.zeros((40, 60), bool)
    mask[10:30, 10:30] = True
    others = np.zeros_like(mask)
    others[10:30, 30:50] = True  # another person right of the subject
    trimap = trimap_from_mask(mask, TrimapConfig(band=0.05, hair_band=0.05), others=others)
    assert (trimap[others] == 0).all()
    assert trimap[20, 29] == 1.0  # the subject's side facing the other person is not in the band
    assert trimap[20, 10] == UNKNOWN  # its side facing the background is


def test_regularised_solve_is_the_closed_form_system_plus_a_pull_to_the_prior():
    rng = np.random.default_rng(4)
    image = rng.random((8, 10, 3))
    trimap = (rng.random((8, 10)) > 0.5).astype(np.float64)
    unknown = np.zeros((8, 10), bool)
    unknown[2:6, 2:8] = True
    trimap[unknown] = UNKNOWN
    prior = rng.random((8, 10)).astype(np.float32)
    weight, eps = 0.3, 1e-3
    laplacian = _dense_laplacian(image, eps)
    u, k = unknown.ravel(), ~unknown.ravel()
    # (L_UU + lambda Id) alpha_U = -L_UK alpha_K + lambda prior_U, solved densely.
    system = laplacian[np.ix_(u, u)] + weight * np.eye(u.sum())
    expected = np.linalg.solve(system, -laplacian[np.ix_(u, k)] @ trimap.ravel()[k] + weight * prior.ravel()[u])
    config = SolverConfig(eps=eps, iterations=5000, tolerance=1e-12, levels=1, prior_weight=weight)
    solved = solve_band(image, trimap, config, prior)
    assert ((expected > 0) & (expected < 1)).mean() > 0.5  # the final clip leaves most of the answer as solved
    np.testing.assert_allclose(solved[unknown], np.clip(expected, 0, 1), atol=1e-5)
    np.testing.assert_array_equal(solved[~unknown], trimap[~unknown])


def test_a_prior_without_weight_only_starts_the_solve():
    image, alpha = _two_colour_ramp()
    trimap = np.where(alpha >= 1, 1.0, 0.0)
    trimap[:, 8:32] = UNKNOWN
    prior = np.full(alpha.shape, 0.9, np.float32)
    np.testing.assert_allclose(solve_band(image, trimap, CONVERGED, prior), solve_band(image, trimap, CONVERGED), atol=1e-4)
