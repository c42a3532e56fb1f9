from __future__ import annotations

import pytest
import torch

from vmat.depth import GroundPlaneConfig, GroundPlaneDepth, build_depth_estimator
from vmat.depth.ground_plane import ground_plane_disparity, lowest_rows


def test_prior_without_masks_is_linear_disparity_below_the_horizon():
    # H = 5, horizon 0.5 -> row 2; disparity (y - 2) / 2 below it, 0 above; depth = 1 - disparity.
    depth = GroundPlaneDepth(GroundPlaneConfig(horizon=0.5))(torch.zeros(1, 3, 5, 3))
    expected = torch.tensor([1.0, 1.0, 1.0, 0.5, 0.0]).view(1, 1, 5, 1).expand(1, 1, 5, 3)
    assert torch.equal(depth, expected)


def test_ground_disparity_is_inverse_distance_on_a_level_camera():
    # Z = f * h / (y - y_h): disparity ratios between rows equal inverse distance ratios.
    disparity = ground_plane_disparity(11, torch.tensor([0.0]))[0]
    assert torch.allclose(disparity, torch.arange(11) / 10.0)


def test_lowest_rows_per_id():
    masks = torch.tensor([[[0, 1, 0], [2, 1, 0], [2, 0, 0], [0, 0, 0]]])
    assert lowest_rows(masks, 4).tolist() == [[3, 1, 2, -1]]


def test_people_get_the_depth_of_the_ground_at_their_feet():
    masks = torch.zeros(1, 5, 4, dtype=torch.long)
    masks[0, 0:4, 0] = 1  # feet on row 3
    masks[0, 1:3, 2] = 2  # feet on row 2, the horizon: the horizon moves up to row 1
    depth = GroundPlaneDepth(GroundPlaneConfig(horizon=0.5))(torch.zeros(1, 3, 5, 4), masks)[0, 0]
    # Horizon row 1: disparity (y - 1) / 3 -> ground depth per row 1, 1, 2/3, 1/3, 0.
    ground = torch.tensor([1.0, 1.0, 2 / 3, 1 / 3, 0.0])
    assert torch.allclose(depth[:, 1], ground) and torch.allclose(depth[:, 3], ground)
    assert torch.allclose(depth[0:4, 0], torch.full((4,), 1 / 3))  # person 1: ground depth of row 3
    assert torch.allclose(depth[1:3, 2], torch.full((2,), 2 / 3))  # person 2: ground depth of row 2
    assert torch.allclose(depth[[0, 3, 4], 2], ground[[0, 3, 4]])


def test_lower_feet_are_nearer_in_each_frame_of_a_batch():
    masks = torch.zeros(2, 9, 7, dtype=torch.long)
    masks[0, 2:8, 1] = 1
    masks[0, 3:6, 4] = 2
    masks[1, 2:5, 1] = 1  # in frame 1 the two people swap places in depth
    masks[1, 3:9, 4] = 2
    depth = build_depth_estimator("ground-plane")(torch.zeros(2, 3, 9, 7), masks)
    person_depth = [[depth[b, 0][masks[b] == k].unique() for k in (1, 2)] for b in range(2)]
    assert all(len(d) == 1 for frame in person_depth for d in frame)  # constant per person
    assert person_depth[0][0] < person_depth[0][1]
    assert person_depth[1][1] < person_depth[1][0]
    assert depth[1, 0][masks[1] == 2].unique().item() == 0.0  # feet on the bottom row: nearest


def test_output_follows_frames_device_and_range():
    frames = torch.zeros(1, 3, 6, 5)
    depth = GroundPlaneDepth()(frames)
    assert depth.shape == (1, 1, 6, 5) and depth.device == frames.device
    assert depth.min() == 0.0 and depth.max() == 1.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="horizon"):
        GroundPlaneDepth(GroundPlaneConfig(horizon=1.0))
    with pytest.raises(ValueError, match="masks must be"):
        GroundPlaneDepth()(torch.zeros(1, 3, 6, 5), torch.zeros(1, 6, 4, dtype=torch.long))
