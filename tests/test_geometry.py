"""Sizes and boxes shared by the stages."""

import cv2
import numpy as np
import pytest

from vmat.geometry import bounding_box, enlarge, processing_size, within


def test_processing_size_caps_the_longer_side_and_keeps_the_aspect():
    assert processing_size(1280, 720, 640) == (640, 360)
    assert processing_size(720, 1280, 640) == (360, 640)
    assert processing_size(131, 97, 64) == (64, 47)  # 97 * 64 / 131 = 47.39
    assert processing_size(320, 180, 640) == (320, 180)  # never enlarged
    assert processing_size(1280, 720, None) == (1280, 720)


def test_bounding_box_grows_by_the_margin_and_stops_at_the_edges():
    mask = np.zeros((9, 12), bool)
    mask[2:5, 7:10] = True
    assert bounding_box(mask) == (slice(2, 5), slice(7, 10))
    assert bounding_box(mask, 3) == (slice(0, 8), slice(4, 12))


@pytest.mark.parametrize("full_size", [(262, 194), (200, 150)])  # twice the size, and a ratio of 1.53 x 1.60
def test_enlarge_gives_a_box_of_the_bilinear_resize_without_resizing_the_rest(full_size):
    small = np.random.default_rng(0).random((97, 131, 3), dtype=np.float32)
    rows, cols = slice(30, 120), slice(0, 77)
    expected = cv2.resize(small, full_size, interpolation=cv2.INTER_LINEAR)[rows, cols]
    # Both sample at the same pixel centres; OpenCV rounds positions to 1/32 pixel in both.
    tolerance = np.abs(np.diff(small, axis=0)).max() / 32
    assert np.abs(enlarge(small, (131, 97), full_size, rows, cols) - expected).max() <= tolerance
    # From a crop of the small image that covers what the box reads: the same box.
    crop = small[12:82, 0:55]
    whole = enlarge(small, (131, 97), full_size, rows, cols)
    np.testing.assert_array_equal(enlarge(crop, (131, 97), full_size, rows, cols, origin=(12, 0)), whole)


def test_within_gives_a_box_in_the_outer_box_pixels():
    image = np.arange(100).reshape(10, 10)
    inner, outer = (slice(3, 6), slice(4, 9)), (slice(2, 8), slice(1, 10))
    assert within(inner, outer) == (slice(1, 4), slice(3, 8))
    np.testing.assert_array_equal(image[outer][within(inner, outer)], image[inner])
