import torch

from vmat.layers import depth_order, plane_depths


def test_plane_depth_is_the_mean_over_positive_alpha():
    weights = torch.tensor([[[0.0, 0.0], [0.0, 1.0]], [[1.0, 0.5], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    depth_map = torch.tensor([[2.0, 4.0], [8.0, 16.0]])
    depths = plane_depths(torch.cat([weights[:1], weights[1:]]), depth_map)
    assert depths[1] == 3.0  # mean of 2 and 4
    assert depths[0] == float("inf") and depths[2] == float("inf")  # background; empty plane


def test_disparity_is_negated_and_faint_noise_ignored():
    weights = torch.tensor([[[1.0, 1.0]], [[1.0, 0.001]]])
    disparity = torch.tensor([[10.0, 1.0]])
    assert plane_depths(weights, disparity, larger_is_closer=True)[1] == -10.0
    assert plane_depths(weights, disparity, larger_is_closer=True, support_above=0.0)[1] == -5.5


def test_depth_order_sorts_instances_and_appends_background():
    assert depth_order(torch.tensor([float("inf"), 5.0, 1.0, float("inf"), 3.0])) == [2, 4, 1, 3, 0]
