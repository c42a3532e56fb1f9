"""Sizes and boxes shared by the stages."""

import numpy as np

from vmat.geometry import bounding_box, processing_size


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
