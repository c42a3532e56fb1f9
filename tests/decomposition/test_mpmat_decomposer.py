import numpy as np
import pytest
import torch

from vmat.decomposition.mpmat import NetworkDecomposer, build_mpmat, fold_into_background
from vmat.decomposition.mpmat.decomposer import network_depth
from vmat.errors import ConfigError


def test_fold_into_background_merges_weights_and_blends_colours():
    weights = torch.tensor([0.2, 0.3, 0.1, 0.4]).view(4, 1, 1)
    colour = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.5, 0.5, 0.5], [1.0, 0.0, 0.0]]).view(4, 3, 1, 1)
    folded_weights, folded_colour = fold_into_background(weights, colour, keep=[3, 1])
    assert torch.allclose(folded_weights[:, 0, 0], torch.tensor([0.3, 0.4, 0.3]))
    # background: (0.2 * 0 + 0.1 * 0.5) / 0.3
    assert torch.allclose(folded_colour[0, :, 0, 0], torch.full((3,), 0.05 / 0.3))
    assert torch.equal(folded_colour[1:, :, 0, 0], colour[[3, 1], :, 0, 0])
    # where the folded planes have no weight the background keeps its own colour
    empty_weights, empty_colour = fold_into_background(torch.tensor([0.0, 1.0]).view(2, 1, 1), colour[:2], keep=[1])
    assert torch.equal(empty_colour[0], colour[0]) and empty_weights[0].item() == 0.0


def test_network_depth_normalises_a_given_map_and_falls_back_to_the_feet_rule():
    ids = np.zeros((4, 3), np.int32)
    ids[1:3, 1] = 5  # lowest row 2 of 4 -> feet depth 1 - 3/4
    depth = np.array([[2.0, 2.0, 2.0], [4.0, 4.0, 4.0], [6.0, 6.0, 6.0], [6.0, 6.0, 6.0]])
    assert np.array_equal(network_depth(depth, ids)[:, 0], np.array([0.0, 0.5, 1.0, 1.0], np.float32))
    fallback = network_depth(None, ids)
    assert fallback[1, 1] == 0.25 and fallback[0, 0] == 1.0
    assert np.array_equal(network_depth(np.full((4, 3), 3.0), ids), np.ones((4, 3), np.float32))


def _frame(height=37, width=53):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    ids = np.zeros((height, width), np.int32)
    ids[5:30, 4:20] = 3
    ids[10:35, 25:45] = 7
    depth = np.where(ids == 3, 0.2, np.where(ids == 7, 0.5, 0.9)).astype(np.float32)
    return image, ids, depth


@pytest.mark.parametrize("max_side", [512, 24], ids=["full-size", "downscaled"])
def test_decomposer_gives_a_valid_stack_with_the_right_ids_on_an_odd_size(max_side):
    torch.manual_seed(0)
    image, ids, depth = _frame()
    stack = NetworkDecomposer(build_mpmat("small"), max_side=max_side).decompose(image, ids, depth, [3, 7, 9])
    stack.validate()
    assert stack.ids == (0, 3, 7, 9)
    assert (stack.height, stack.width) == (37, 53)
    assert stack.depth[1].item() == pytest.approx(0.2) and stack.depth[2].item() == pytest.approx(0.5)
    assert stack.order()[:2] == [1, 2]  # person 3 is nearer than person 7
    assert float(stack.alpha[3].abs().max()) == 0.0  # id 9 is absent: an empty plane
    assert torch.allclose(stack.weights().sum(0), torch.ones(37, 53), atol=1e-3)


def test_decomposer_without_depth_or_ids_uses_the_ids_in_the_mask():
    image, ids, _ = _frame(40, 31)
    stack = NetworkDecomposer(build_mpmat("small")).decompose(image, ids)
    stack.validate()
    assert stack.ids == (0, 3, 7)
    # feet rule: person 7 reaches lower in the frame, so it is nearer
    assert stack.order()[0] == 2


def test_more_people_than_slots_is_a_user_error():
    image, _, _ = _frame(20, 40)
    ids = np.repeat(np.arange(10, dtype=np.int32), 4)[None].repeat(20, 0)  # 9 people in stripes
    with pytest.raises(ConfigError, match="at most 8 people"):
        NetworkDecomposer(build_mpmat("small")).decompose(image, ids)
    with pytest.raises(ConfigError):
        NetworkDecomposer(build_mpmat("small"), max_side=8)
