import cv2
import numpy as np

from vmat.editing.blending import (
    _harmonic,
    _system,
    add_inside,
    gain_between,
    gain_of_samples,
    held,
    membrane,
    poisson_membrane,
    seam_difference,
)


def texture(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(60, 200, (height, width, 3)).astype(np.uint8)


def test_gain_maps_a_darker_donor_onto_the_reference():
    reference = texture(40, 40, 0)
    gain = np.array([1.25, 1.1, 0.9])
    donor = np.round(reference / gain).astype(np.uint8)
    where = np.zeros((40, 40), bool)
    where[:, :20] = True
    corrected = gain_between(reference, donor, where)
    # Measured on the left half, right on the right half too (rounding of the donor: up to 1.3 levels).
    assert np.abs(corrected[:, 20:].astype(int) - reference[:, 20:]).max() <= 2
    same = reference.copy()
    assert gain_between(reference, same, where) is same  # a gain of 1 costs nothing
    assert gain_between(reference, donor, np.zeros_like(where)) is donor  # nothing to measure it on


def test_membrane_carries_an_exposure_change_into_the_region_without_a_seam():
    source = texture(48, 64, 1)
    ys, xs = np.mgrid[:48, :64]
    # The target is the source under a brighter, left-to-right graded exposure: a harmonic offset, which
    # the membrane reproduces exactly.
    offset = 10 + 0.25 * xs + 0.1 * ys
    target = np.clip(source + offset[..., None] + 0.5, 0, 255).astype(np.uint8)
    region = np.zeros((48, 64), bool)
    region[12:36, 16:48] = True
    blended = poisson_membrane(target, source, region)
    assert np.abs(blended[region].astype(int) - target[region]).max() <= 1
    assert np.array_equal(blended[~region], source[~region])
    # Source detail is kept: a pattern inside the region survives the blend.
    assert np.corrcoef(blended[region].ravel(), source[region].ravel())[0, 1] > 0.99


def test_membrane_refined_in_a_band_keeps_the_coarse_solution_inside_and_no_seam():
    source = texture(96, 128, 2)
    ys, xs = np.mgrid[:96, :128]
    offset = 10 + 0.25 * xs + 0.1 * ys + 0.003 * (xs - 64) ** 2  # curved: not harmonic
    target = np.clip(source + offset[..., None] + 0.5, 0, 255).astype(np.uint8)
    region = np.zeros((96, 128), bool)
    region[16:80, 24:104] = True
    full = poisson_membrane(target, source, region).astype(int)
    banded = poisson_membrane(target, source, region, band=6).astype(int)
    # The band's result is the full refinement's within a level or two, and meets the surroundings alike.
    assert np.abs(banded[region] - full[region]).max() <= 2
    edge = region & ~np.pad(region[1:-1, 1:-1] & region[:-2, 1:-1] & region[2:, 1:-1] & region[1:-1, :-2] & region[1:-1, 2:], 1)
    assert np.abs(banded[edge] - target[edge]).mean() <= np.abs(full[edge] - target[edge]).mean() + 0.5


def test_seam_difference_keeps_an_exposure_offset_and_drops_texture_noise():
    source = texture(48, 64, 3)
    rng = np.random.default_rng(4)
    offset = 12.0
    # The target is the source 12 levels brighter, plus per-pixel noise of 4 levels (texture placed a pixel
    # off, a matte's edge): what the seam should carry is the 12.
    target = np.clip(source + offset + rng.normal(0, 4, source.shape) + 0.5, 0, 255).astype(np.uint8)
    region = np.zeros((48, 64), bool)
    region[12:36, 16:48] = True
    smooth = seam_difference(target, source, region, 4.0)
    border = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & ~region
    raw = target.astype(np.float32) - source
    assert (raw[border] - offset).std() > 3  # the pixels themselves: noise
    assert np.abs(smooth[border] - offset).max() < 2  # smoothed: the offset
    assert (smooth[region] == 0).all()


def test_held_keeps_a_carried_value_within_tolerance_and_follows_a_larger_change():
    carried = np.full((4, 4, 3), 5.0, np.float32)
    measured = carried + np.array([1.5, -1.0, 0.5], np.float32)  # within 2 levels in every channel
    known = np.ones((4, 4), bool)
    assert np.array_equal(held(measured, carried, known, 2.0), carried)
    measured[0, 0, 1] = 9.0  # one channel of one pixel moved by 4
    kept = held(measured, carried, known, 2.0)
    assert np.array_equal(kept[0, 0], measured[0, 0]) and np.array_equal(kept[1:], carried[1:])
    known[2, 2] = False  # nothing carried there: the measurement
    assert np.array_equal(held(measured, carried, known, 2.0)[2, 2], measured[2, 2])


def test_poisson_membrane_is_the_source_plus_the_membrane_of_the_difference():
    source, target = texture(32, 40, 5), texture(32, 40, 6)
    region = np.zeros((32, 40), bool)
    region[8:24, 10:30] = True
    field = membrane(target.astype(np.float32) - source, region)
    assert np.array_equal(poisson_membrane(target, source, region), add_inside(source, field, region))
    assert np.array_equal(field[~region], (target.astype(np.float32) - source)[~region])


def test_gain_of_samples_is_the_median_ratio_of_the_usable_pixels():
    rng = np.random.default_rng(4)
    reference = rng.integers(0, 256, (101, 3), dtype=np.uint8)
    donor = rng.integers(0, 256, (101, 3), dtype=np.uint8)
    donor[:10, 1] = 3  # too dark in one channel: not used
    usable = donor.min(axis=1) >= 8
    ratios = (reference[usable].astype(np.float32) + 0.5) / (donor[usable].astype(np.float32) + 0.5)
    expected = np.clip(np.median(ratios, axis=0), 0.5, 2.0)
    assert np.array_equal(gain_of_samples(reference, donor, tolerance=0.0), expected)


def test_add_inside_adds_only_inside_and_rounds():
    source = texture(6, 7, 8)
    correction = np.random.default_rng(9).normal(0, 40, (6, 7, 3)).astype(np.float32)
    region = np.zeros((6, 7), bool)
    region[1:4, 2:6] = True
    expected = source.astype(np.float32)
    expected[region] += correction[region]
    result = add_inside(source, correction, region)
    assert np.array_equal(result, np.clip(expected + 0.5, 0, 255).astype(np.uint8))
    assert np.array_equal(result[~region], source[~region])


def test_harmonic_made_again_for_a_new_mask_and_kept_for_the_same():
    values = np.random.default_rng(6).normal(size=(10, 12, 3)).astype(np.float32)
    first, second = np.zeros((10, 12), bool), np.zeros((10, 12), bool)
    first[2:8, 3:9] = True
    second[2:8, 4:10] = True  # the same size and count, elsewhere
    once = _harmonic(values, first)
    assert _system(first) is _system(first)
    other = _harmonic(values, second)
    assert np.array_equal(_harmonic(values, first), once)  # kept: the same numbers
    assert not np.array_equal(other, once)
    # The exact solve is harmonic: each unknown pixel is the mean of its 4 neighbours.
    inner = other[2:8, 4:10]
    padded = other[1:9, 3:11]
    mean = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
    assert np.abs(inner - mean).max() < 1e-5
