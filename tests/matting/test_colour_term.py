"""The colour data term of the band's solve (vmat.matting.colour_term) on images where the answer is known."""

import numpy as np

from vmat.decomposition.mask_matting import MaskMattingConfig, person_layer
from vmat.geometry import morph
from vmat.matting import UNKNOWN, SolverConfig, solve_band
from vmat.matting.colour_term import ColourTermConfig, colour_alpha, known_colour, nearest_samples, sample_offsets
from vmat.matting.laplacian import band_system

RED, BLUE = np.array([0.9, 0.1, 0.1]), np.array([0.1, 0.2, 0.8])


def _mix_image(alpha: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float32: red foreground over blue background with ``alpha``."""
    return (alpha[..., None] * RED + (1 - alpha[..., None]) * BLUE).astype(np.float32)


def _ramp_trimap(width: int = 40, height: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A horizontal ramp: foreground on the left, background on the right, unknown band in columns 14-25."""
    alpha = np.clip((26 - np.arange(width)) / 12, 0, 1)[None].repeat(height, 0).astype(np.float32)
    trimap = np.where(alpha >= 1, 1.0, 0.0).astype(np.float32)
    trimap[:, 14:26] = UNKNOWN
    return alpha, trimap


def test_known_colour_is_the_mean_of_the_known_pixels_only():
    image = np.zeros((20, 20, 3), np.float32)
    image[:, :10] = RED
    image[:, 10:] = BLUE
    known = np.zeros((20, 20), bool)
    known[:, :10] = True
    colour, weight = known_colour(image, known, 3.0)
    np.testing.assert_allclose(colour[:, :14], np.broadcast_to(RED, (20, 14, 3)), atol=1e-5)  # blue never enters
    assert (weight[:, :10] > weight[:, 12:14].max()).all()


def test_the_colour_term_recovers_the_alpha_of_a_two_colour_mix():
    alpha, trimap = _ramp_trimap()
    target, confidence = colour_alpha(_mix_image(alpha), trimap, band=6.0)
    band = trimap == UNKNOWN
    mixed = band & (alpha > 0.2) & (alpha < 0.8)  # nearer the ends, the samples of pure red or blue take part
    np.testing.assert_allclose(target[mixed], alpha[mixed], atol=1e-4)
    spread = float(((RED - BLUE) ** 2).sum())
    np.testing.assert_allclose(confidence[mixed], spread / (spread + ColourTermConfig().contrast), rtol=1e-3)
    assert (confidence[~band] == 0).all()


def test_a_colour_seen_only_in_the_known_background_is_background():
    alpha, trimap = _ramp_trimap()
    image = _mix_image(alpha)
    green = np.array([0.2, 0.7, 0.2], np.float32)
    image[5, 20] = green  # a twig inside the band ...
    image[5, 38] = green  # ... whose colour the known background shows 18 px away (3 band half-widths)
    target, confidence = colour_alpha(image, trimap, band=6.0)
    assert target[5, 20] < 1e-3 and abs(confidence[5, 20] - 1) < 1e-3
    image[5, 2] = green  # once the foreground shows it too, the samples no longer decide
    target, confidence = colour_alpha(image, trimap, band=6.0)
    assert confidence[5, 20] < 0.1  # and green is no mix of red and blue


def test_nearest_samples_look_only_at_known_pixels_at_the_sampling_radii():
    image = np.zeros((15, 15, 3), np.float32)
    trimap = np.full((15, 15), UNKNOWN, np.float32)
    image[7, 10] = [0.5, 0.0, 0.0]
    trimap[7, 10] = 0.0  # known background 3 px right of the centre
    image[7, 4] = [0.0, 0.2, 0.0]
    trimap[7, 4] = 1.0  # known foreground 3 px left of it
    image[7, 8] = [0.1, 0.0, 0.0]  # nearer in colour but not known
    ys, xs = np.array([7, 0]), np.array([7, 0])
    background, foreground = nearest_samples(image, trimap, ys, xs, [3])
    np.testing.assert_allclose([background[0], foreground[0]], [0.25, 0.04], rtol=1e-6)
    assert np.isinf(background[1]) and np.isinf(foreground[1])  # the corner's samples are outside the image
    background, foreground = nearest_samples(image, trimap, ys, xs, [2])
    assert np.isinf(background).all() and np.isinf(foreground).all()


def test_the_solve_with_the_colour_term_is_the_closed_form_system_plus_a_confidence_weighted_pull():
    rng = np.random.default_rng(5)
    alpha, trimap = _ramp_trimap(24, 9)
    trimap[:, 8:16] = UNKNOWN
    trimap[:, :8], trimap[:, 16:] = 1.0, 0.0
    image = np.clip(_mix_image(alpha) + 0.05 * rng.standard_normal((9, 24, 3)), 0, 1).astype(np.float32)
    weight, band = 0.7, 3.0
    unknown = trimap == UNKNOWN
    system = band_system(image, trimap, unknown, 1e-7)
    target, confidence = colour_alpha(image, trimap, band)
    w = weight * confidence[unknown]
    expected = np.linalg.solve(system.matrix.toarray() + np.diag(w), system.rhs + w * target[unknown])
    config = SolverConfig(iterations=5000, tolerance=1e-12, levels=1, colour_weight=weight)
    solved = solve_band(image, trimap, config, band=band)
    assert (confidence[unknown] > 0.1).mean() > 0.5  # the term is in play on most of the band
    np.testing.assert_allclose(solved[unknown], np.clip(expected, 0, 1), atol=1e-5)


def test_twigs_of_a_textured_background_inside_the_band_stay_background():
    # A dark figure before sky crossed by dark twigs, its mask 3 px too wide all round (band: 4 px).
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:300, :400]
    person = (xx - 200) ** 2 / 60**2 + (yy - 160) ** 2 / 110**2 < 1
    twig = rng.random(person.shape) < 0.3
    background = np.where(twig[..., None], [0.25, 0.2, 0.1], [0.5, 0.7, 0.9])
    image = np.where(person[..., None], [0.15, 0.1, 0.08] + 0.05 * rng.random((300, 400, 3)), background).astype(np.float32)
    mask = morph(person, 3)
    ring = mask & ~person

    def alpha(colour_weight: float) -> np.ndarray:
        solver = SolverConfig(levels=1, iterations=20, prior_weight=0.02, colour_weight=colour_weight)
        return person_layer(image, mask, MaskMattingConfig(band_pixels=100, matting=solver))[0]

    closed_form, with_colour = alpha(0.0), alpha(1.0)
    assert with_colour[ring & twig].mean() < 0.15 < closed_form[ring & twig].mean()
    assert np.abs(with_colour - person).sum() < 0.5 * np.abs(closed_form - person).sum()
    assert with_colour[morph(person, -2)].min() > 0.99  # the figure itself stays solid


def test_sample_offsets_are_distinct_pixels_on_the_circles():
    offsets = sample_offsets([1, 5], 16)
    assert len(offsets) == len(set(offsets)) and (0, 0) not in offsets
    assert {o for o in offsets if max(map(abs, o)) == 1} == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)} - {(0, 0)}
    far = [o for o in offsets if max(map(abs, o)) > 1]
    assert len(far) == 16 and all(abs(np.hypot(*o) - 5) < 0.75 for o in far)
