from __future__ import annotations

import numpy as np

from vmat.propagation.appearance import bhattacharyya_distance, colour_codes, colour_histogram
from vmat.propagation.flow import occlusion_mask, sampling_maps, warp


def test_sampling_maps_add_the_flow():
    flow = np.zeros((2, 3, 2), np.float32)
    flow[..., 0] = 1.5
    flow[..., 1] = -1
    map_x, map_y = sampling_maps(flow)
    np.testing.assert_array_equal(map_x, [[1.5, 2.5, 3.5]] * 2)
    np.testing.assert_array_equal(map_y, [[-1, -1, -1], [0, 0, 0]])


def test_warp_with_integer_flow_shifts_exactly():
    data = np.arange(30, dtype=np.float32).reshape(5, 6)
    flow = np.zeros((5, 6, 2), np.float32)
    flow[..., 0] = -2  # every pixel was 2 px to the left in the previous frame
    out = warp(data, flow)
    np.testing.assert_array_equal(out[:, 2:], data[:, :4])
    np.testing.assert_array_equal(out[:, :2], data[:, :1].repeat(2, axis=1))  # edge replicated


def test_warp_with_half_pixel_flow_interpolates():
    data = np.array([[0, 2, 4, 6]], np.float32)
    flow = np.zeros((1, 4, 2), np.float32)
    flow[..., 0] = 0.5
    np.testing.assert_allclose(warp(data, flow)[0, :3], [1, 3, 5], atol=1e-2)  # remap uses 1/32-px weights


def test_occlusion_mask_consistent_and_inconsistent():
    backward = np.zeros((4, 8, 2), np.float32)
    forward = np.zeros((4, 8, 2), np.float32)
    assert not occlusion_mask(backward, forward).any()
    backward[..., 0] = -2  # t -> t-1 moves 2 px left
    forward[..., 0] = 2  # and t-1 -> t brings it back: consistent
    assert not occlusion_mask(backward, forward).any()
    forward[:, 3, 0] = -3  # a column of t-1 that went elsewhere
    occluded = occlusion_mask(backward, forward)
    # Pixels of t that map onto column 3 of t-1 are columns 5; none else.
    assert occluded[:, 5].all()
    assert occluded.sum() == 4


def test_colour_codes_and_histograms():
    image = np.array([[[0, 0, 0], [255, 255, 255], [16, 0, 32]]], np.uint8)
    np.testing.assert_array_equal(colour_codes(image, 16), [[0, 4095, 1 * 256 + 0 * 16 + 2]])
    histogram = colour_histogram(np.array([0, 0, 2]), 2, prior=1.0)
    np.testing.assert_allclose(histogram, [3 / 11, 1 / 11, 2 / 11, 1 / 11, 1 / 11, 1 / 11, 1 / 11, 1 / 11])


def test_bhattacharyya_distance_extremes():
    p = np.array([0.5, 0.5, 0, 0], np.float32)
    q = np.array([0, 0, 0.5, 0.5], np.float32)
    assert bhattacharyya_distance(p, p) == 0.0
    assert bhattacharyya_distance(p, q) == 1.0
    assert abs(bhattacharyya_distance(p, np.array([0.5, 0, 0.5, 0], np.float32)) - np.sqrt(0.5)) < 1e-6
