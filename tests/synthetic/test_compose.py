import numpy as np

from vmat.synthetic.compose import removal_order, render_order, swapped_order, visible_contributions


def test_two_layer_contributions_hand_computed():
    # InstMatt eq. 14 for two layers, layer 0 in front: c0 = a0, c1 = a1 (1 - a0), background (1 - a0)(1 - a1).
    layers = np.array([[[0.5, 1.0]], [[0.5, 0.25]]], np.float32)
    contributions, background = visible_contributions(layers, [0, 1])
    np.testing.assert_allclose(contributions[0], [[0.5, 1.0]])
    np.testing.assert_allclose(contributions[1], [[0.25, 0.0]])
    np.testing.assert_allclose(background, [[0.25, 0.0]])
    np.testing.assert_allclose(contributions.sum(0) + background, 1.0)


def test_order_changes_who_is_visible():
    layers = np.ones((2, 1, 1), np.float32)
    front_first, _ = visible_contributions(layers, [0, 1])
    back_first, _ = visible_contributions(layers, [1, 0])
    assert front_first[:, 0, 0].tolist() == [1.0, 0.0]
    assert back_first[:, 0, 0].tolist() == [0.0, 1.0]


def test_edit_orders():
    assert removal_order([2, 0, 1], 0) == [2, 1]
    assert swapped_order([2, 0, 1, 3], 2, 1) == [1, 0, 2, 3]


def test_render_order_hand_computed():
    layers = np.array([[[0.5]]], np.float32)
    foreground = np.array([[[[255, 0, 0]]]], np.uint8)
    background = np.array([[[0, 0, 255]]], np.uint8)
    # 0.5 * 255 = 127.5 rounds to 128 (half to even gives 128)
    assert render_order(layers, foreground, background, [0]).tolist() == [[[128, 0, 128]]]
    assert render_order(layers, foreground, background, []).tolist() == [[[0, 0, 255]]]
