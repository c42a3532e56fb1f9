import cv2
import numpy as np
import pytest



from vmat.training.perturb import (
    REALISTIC,
    GuidanceConfig,
    Perturbation,
    coarse_polygon,
    draw_perturbation,
    morph,
    perturb_guidance,
    punch_holes,
    shift,
    shorter_box_side,
)


def _point(size=7):
    mask = np.zeros((size, size), bool)
    mask[size // 2, size // 2] = True
    return mask


def _plan(people, threshold=0.5, beta=0.0, dropped=(), merged=None):
    drop = np.zeros(people, bool)
    drop[list(dropped)] = True
    return Perturbation(np.full(people, threshold), np.full(people, beta), drop, merged)


def test_morph_dilates_by_a_disc_and_erodes_back():
    grown = morph(_point(), 1)
    expected = np.zeros((7, 7), bool)
    expected[2:5, 3] = expected[3, 2:5] = True  # a radius-1 disc is a plus sign
    np.testing.assert_array_equal(grown, expected)
    np.testing.assert_array_equal(morph(grown, -1), _point())
    np.testing.assert_array_equal(morph(_point(), 0), _point())


def test_shift_moves_and_empties_the_border():
    mask = np.zeros((3, 4), bool)
    mask[0, 0] = mask[2, 3] = True
    moved = shift(mask, 1, 1)
    expected = np.zeros((3, 4), bool)
    expected[1, 1] = True
    np.testing.assert_array_equal(moved, expected)
    np.testing.assert_array_equal(shift(mask, 0, 0), mask)
    np.testing.assert_array_equal(shift(moved, -1, -1), np.pad(np.ones((1, 1), bool), ((0, 2), (0, 3))))


def test_shorter_box_side():
    mask = np.zeros((10, 10), bool)
    mask[2:8, 4:6] = True
    assert shorter_box_side(mask) == 2
    assert shorter_box_side(np.zeros((4, 4), bool)) == 0


def test_threshold_only_binarises():
    alpha = np.array([[[0.2, 0.5, 0.7]]], np.float32)
    np.testing.assert_array_equal(perturb_guidance(alpha, _plan(1, threshold=0.4)), [[[False, True, True]]])
    np.testing.assert_array_equal(perturb_guidance(alpha, _plan(1, threshold=0.6)), [[[False, False, True]]])


def test_beta_scales_with_the_box_and_its_sign_picks_dilation_or_erosion():
    alpha = np.zeros((1, 30, 30), np.float32)
    alpha[0, 10:20, 10:20] = 1.0  # a 10x10 box: beta 0.2 means a radius of 2 pixels
    grown = perturb_guidance(alpha, _plan(1, beta=0.2))[0]
    shrunk = perturb_guidance(alpha, _plan(1, beta=-0.2))[0]
    assert grown[8, 15] and not grown[7, 15] and grown[15, 21] and not grown[15, 22]
    np.testing.assert_array_equal(shrunk, np.pad(np.ones((6, 6), bool), 12))


def test_dropped_and_merged_slots():
    alpha = np.zeros((3, 4, 4), np.float32)
    alpha[0, 0, 0] = alpha[1, 3, 3] = alpha[2, 1, 1] = 1.0
    guidance = perturb_guidance(alpha, _plan(3, dropped=[2], merged=(0, 1)))
    assert guidance[0, 0, 0] and guidance[0, 3, 3] and guidance[0].sum() == 2
    assert not guidance[1].any() and not guidance[2].any()


def test_drawn_perturbations_stay_in_their_ranges():
    config = GuidanceConfig(drop_probability=0.0, merge_probability=1.0)
    plan = draw_perturbation(np.random.default_rng(0), 4, config)
    assert np.all((plan.threshold >= 0.1) & (plan.threshold <= 0.9))
    assert np.all(np.abs(plan.beta) <= 0.1)
    assert not plan.dropped.any()
    assert plan.merged is not None and plan.merged[0] != plan.merged[1]
    assert draw_perturbation(np.random.default_rng(0), 1, config).merged is None


@pytest.mark.parametrize("seed", [0, 1])
def test_draws_are_seeded(seed):
    a = draw_perturbation(np.random.default_rng(seed), 3)
    b = draw_perturbation(np.random.default_rng(seed), 3)
    np.testing.assert_array_equal(a.beta, b.beta)
    assert a.merged == b.merged


def test_coarse_polygon_straightens_an_outline_and_fills_it():
    mask = np.zeros((40, 40), np.uint8)
    cv2.circle(mask, (20, 20), 12, 1, -1)
    mask = mask.astype(bool)
    mask[18:23, 18:23] = False  # an inner hole an outline would not see
    rough = coarse_polygon(mask, 4.0)
    assert rough[20, 20]  # filled
    contours, _ = cv2.findContours(rough.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    assert len(contours) == 1 and len(contours[0]) < 12  # a few straight sides, not a circle
    np.testing.assert_array_equal(coarse_polygon(mask, 0.0) | mask, coarse_polygon(mask, 0.0))


def test_punch_holes_places_discs_relative_to_the_box():
    mask = np.zeros((30, 30), bool)
    mask[10:21, 5:26] = True  # box 11 x 21: centre (15, 15); shorter side 11
    holed = punch_holes(mask, np.array([[0.5, 0.5, 2 / 11]]))
    expected = mask.copy()
    disc = np.zeros((30, 30), np.uint8)
    cv2.circle(disc, (15, 15), 2, 1, -1)
    expected[disc > 0] = False
    np.testing.assert_array_equal(holed, expected)
    np.testing.assert_array_equal(punch_holes(mask, np.zeros((0, 3))), mask)


def test_default_config_draws_what_it_drew_before_holes_and_polygons_existed():
    # Holes and polygons are drawn only when asked for, so old training batches are unchanged.
    rng = np.random.default_rng(3)
    plan = draw_perturbation(rng, 3)
    assert plan.holes is None and plan.polygon is None
    reference = np.random.default_rng(3)
    np.testing.assert_array_equal(plan.threshold, reference.uniform(0.1, 0.9, 3))


def test_realistic_config_draws_holes_and_polygons_in_range():
    plans = [draw_perturbation(np.random.default_rng(seed), 4, REALISTIC) for seed in range(20)]
    assert any(len(h) for p in plans for h in p.holes) and any(p.polygon.any() for p in plans)
    for plan in plans:
        for holes in plan.holes:
            assert len(holes) <= 3 and np.all((holes[:, :2] >= 0.2) & (holes[:, :2] <= 0.8))
        assert np.all((plan.polygon == 0) | ((plan.polygon >= 0.03) & (plan.polygon <= 0.1)))
