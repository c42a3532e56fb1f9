"""The propagation's fast forms give bit-identical results to the straightforward numpy they replaced."""

import cv2
import numpy as np

from vmat.propagation.flow import occlusion_mask
from vmat.propagation.propagator import best_labels


def _reference_occlusion(backward, forward, tolerance=1.0, relative=0.05):
    height, width = backward.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    there = cv2.remap(forward, xs + backward[..., 0], ys + backward[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mismatch = np.square(backward + there).sum(axis=2)
    motion = np.square(backward).sum(axis=2) + np.square(there).sum(axis=2)
    return mismatch > relative * motion + tolerance**2


def _flows():
    rng = np.random.default_rng(0)
    backward = cv2.GaussianBlur(rng.normal(0, 3, (60, 90, 2)).astype(np.float32), (0, 0), 3)
    noise = cv2.GaussianBlur(rng.normal(0, 3, (60, 90, 2)).astype(np.float32), (0, 0), 3)
    return backward, 1.3 * noise - 0.2 * backward


def test_occlusion_mask_matches_the_reference_whole_and_on_a_crop():
    backward, forward = _flows()
    expected = _reference_occlusion(backward, forward)
    assert 0.01 < expected.mean() < 0.99
    assert np.array_equal(occlusion_mask(backward, forward), expected)
    crop = (slice(7, 50), slice(13, 77))
    assert np.array_equal(occlusion_mask(backward, forward, region=crop), expected[crop])


def test_best_labels_is_the_first_argmax():
    rng = np.random.default_rng(1)
    # Quantised scores so that ties are common: the first label of equal maxima must win, as in np.argmax.
    scores = rng.integers(0, 4, (4, 30, 40)).astype(np.float32) / 4
    scores[0] = 0.5
    labels = np.array([0, 3, 7, 2], np.uint16)
    got = best_labels(list(scores), labels)
    assert got.dtype == np.uint16
    assert np.array_equal(got, labels[scores.argmax(axis=0)])
    channels_last = np.ascontiguousarray(scores.transpose(1, 2, 0))
    assert np.array_equal(best_labels([channels_last[..., i] for i in range(4)], labels), labels[channels_last.argmax(axis=2)])
