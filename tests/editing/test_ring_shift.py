"""Lining a moving camera's donor up with the frame on the ring around the hole (:func:`_ring_shift`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import vmat.editing.completion as completion
from vmat.editing.completion import _ALIGN_PIXELS, _GAIN_RING, _ring_shift

SIZE = 96


def ground(seed: int) -> np.ndarray:
    """``(SIZE, SIZE, 3)`` uint8: smooth colour noise (grain about 3 px across), full range."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).random((SIZE, SIZE, 3)).astype(np.float32), (0, 0), 1.5)
    return np.round(255 * (noise - noise.min()) / (noise.max() - noise.min())).astype(np.uint8)


def ring_around_hole() -> np.ndarray:
    """The ring completion measures on: ``_GAIN_RING`` pixels around a person-shaped hole (an upright
    ellipse), made as :func:`vmat.editing.completion._fill` makes it."""
    hole = np.zeros((SIZE, SIZE), np.uint8)
    cv2.ellipse(hole, (SIZE // 2, SIZE // 2), (12, 24), 0, 0, 360, 1, -1)
    grown = cv2.dilate(hole, np.ones((2 * _GAIN_RING + 1,) * 2, np.uint8)) > 0
    return grown & (hole == 0)


def moved(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` translated by ``(dx, dy)``: ``moved(x) = image(x - (dx, dy))``, bilinear."""
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    return cv2.warpAffine(image, matrix, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


EVERYWHERE = np.ones((SIZE, SIZE), bool)


def test_a_donor_a_pixel_or_so_off_is_lined_up():
    """A donor ``(dx, dy)`` off (chained homographies leave a pixel or so) reads ``(dx, dy)``:
    ``target(x) = donor(x + (dx, dy))``. Tolerance: OpenCV's ECC restricted to a 12-px ring is less exact
    than on the whole image (this ring and ground, offsets of 1 and 1.5 px, 10 seeds by 8 directions: error
    median 0.07 px, 90th percentile 0.14, largest 0.25 px, at most 0.22 of the offset; the whole image
    unmasked: at most 0.03 px), so the test asks what the alignment is for, with room for that: each donor
    ends closer than half its offset, and typically (the median) within 0.15 px."""
    ring = ring_around_hole()
    errors, offsets = [], []
    for seed in range(3):
        image = ground(seed)
        for magnitude in (1.0, 1.5):
            for angle in np.radians(np.arange(0, 360, 45) + 20 * seed):
                offset = np.array([magnitude * np.cos(angle), magnitude * np.sin(angle)])
                found = _ring_shift(moved(image, *offset), EVERYWHERE, grey(image), ring)
                assert found is not None
                errors.append(float(np.hypot(*(np.array(found) - offset))))
                offsets.append(magnitude)
    assert np.all(np.array(errors) < 0.5 * np.array(offsets))
    assert np.median(errors) < 0.15


def test_a_shift_beyond_the_limit_is_refused():
    """2.5 px is more than ``_ALIGN_SHIFT`` (2 px): None, though ECC finds it (the limit raised, it comes
    back), so it is the limit that refuses it, not a failure to converge."""
    ring = ring_around_hole()
    image = ground(4)
    donor, target = moved(image, 2.0, -1.5), grey(image)
    assert _ring_shift(donor, EVERYWHERE, target, ring) is None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(completion, "_ALIGN_SHIFT", 3.0)
        found = _ring_shift(donor, EVERYWHERE, target, ring)
    assert found is not None and np.hypot(found[0] - 2.0, found[1] + 1.5) < 0.5


def test_a_donor_already_in_place_is_left_alone():
    image = ground(5)
    assert _ring_shift(image, EVERYWHERE, grey(image), ring_around_hole()) is None


def test_too_few_ring_pixels_seen_gives_none():
    """The shift is measured on at least ``_ALIGN_PIXELS`` ring pixels the donor sees: one fewer, None;
    exactly that many (a compact stretch of the ring), a shift."""
    ring = ring_around_hole()
    image = ground(6)
    donor, target = moved(image, 1.0, 0.5), grey(image)
    ys, xs = np.nonzero(ring)
    nearest = np.argsort(np.hypot(ys - SIZE // 2, xs - 10))  # the ring's pixels by distance from its left side
    for count, expected in ((_ALIGN_PIXELS, True), (_ALIGN_PIXELS - 1, False)):
        seen = np.zeros((SIZE, SIZE), bool)
        seen[ys[nearest[:count]], xs[nearest[:count]]] = True
        assert (_ring_shift(donor, seen, target, ring) is not None) == expected
