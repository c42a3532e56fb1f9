import pytest
import torch

from tests.layers.stacks import BLUE, GREEN, RED, make_stack
from vmat.editing import Placement, cut_out, drag, drag_clip, keyframe_trajectory, paste, paste_clip, place
from vmat.layers import InstanceNotFoundError, LayerError

# Bilinear warps are computed in float32; integer moves land on pixel centres up to rounding.
WARP_TOLERANCE = 1e-5


def frame_with_block(x0: int = 1, y0: int = 1) -> torch.Tensor:
    alpha = torch.zeros(5, 7)
    alpha[y0 : y0 + 2, x0 : x0 + 3] = torch.tensor([[1.0, 0.5, 1.0], [1.0, 1.0, 0.25]])
    return alpha


def test_cut_out_is_the_tight_box():
    stack = make_stack(BLUE, [(4, 1.0, RED, frame_with_block().tolist())])
    cutout = cut_out(stack, 4)
    assert (cutout.x0, cutout.y0, tuple(cutout.alpha.shape)) == (1, 1, (2, 3))
    assert cutout.alpha[0, 1] == 0.5
    empty = make_stack(BLUE, [(4, 1.0, RED, torch.zeros(5, 7).tolist())])
    assert cut_out(empty, 4) is None


def test_integer_move_within_a_frame_is_removal_plus_eq_14():
    stack = make_stack(BLUE, [(4, 1.0, RED, frame_with_block().tolist()), (5, 2.0, GREEN, torch.ones(5, 7).tolist())])
    moved = drag(stack, 4, Placement(dx=3, dy=2))
    assert moved.ids == (0, 5, 4)
    assert torch.allclose(moved.alpha[2], frame_with_block(4, 3), atol=WARP_TOLERANCE)
    # Eq. 14: I' = c_new alpha_new + (1 - alpha_new) I, with I the frame after removing person 4 (all green).
    alpha_new = frame_with_block(4, 3)
    expected = torch.tensor(RED)[:, None, None] * alpha_new + (1 - alpha_new) * torch.tensor(GREEN)[:, None, None]
    assert torch.allclose(moved.render(), expected, atol=WARP_TOLERANCE)


def test_keeping_depth_leaves_nearer_people_in_front():
    front = torch.zeros(5, 7)
    front[:, 5:] = 1
    stack = make_stack(BLUE, [(4, 2.0, RED, frame_with_block().tolist()), (5, 1.0, GREEN, front.tolist())])
    kept = drag(stack, 4, Placement(dx=3), depth=2.0)
    assert kept.render()[:, 1, 6].tolist() == list(GREEN)
    on_top = drag(stack, 4, Placement(dx=3))
    assert torch.allclose(on_top.render()[:, 1, 6], torch.tensor(RED), atol=WARP_TOLERANCE)


def test_rotation_and_scale_about_the_box_centre():
    alpha = torch.zeros(7, 7)
    alpha[3, 2:5] = 1  # a horizontal bar centred at (3, 3)
    stack = make_stack(BLUE, [(1, 1.0, RED, alpha.tolist())])
    cutout = cut_out(stack, 1)
    _, turned = place(cutout, Placement(angle=90), 7, 7)
    expected = torch.zeros(7, 7)
    expected[2:5, 3] = 1
    assert torch.allclose(turned, expected, atol=WARP_TOLERANCE)
    # Twice as wide about x = 3: target x samples source column (x - 3) / 2 + 1 of the 3-pixel bar,
    # so x = 0 and x = 6 fall halfway between the bar's end and the transparent ring around it.
    _, doubled = place(cutout, Placement(scale=2), 7, 7)
    assert torch.allclose(doubled[3], torch.tensor([0.5, 1, 1, 1, 1, 1, 0.5]), atol=WARP_TOLERANCE)
    with pytest.raises(LayerError, match="positive"):
        Placement(scale=0)


def test_subpixel_move_keeps_straight_colour_without_dark_fringes():
    alpha = torch.zeros(4, 6)
    alpha[1:3, 2:4] = 1
    stack = make_stack(BLUE, [(1, 1.0, (0.8, 0.6, 0.4), alpha.tolist())])
    colour, moved = place(cut_out(stack, 1), Placement(dx=0.5), 6, 4)
    assert torch.allclose(moved[1], torch.tensor([0.0, 0.0, 0.5, 1.0, 0.5, 0.0]), atol=WARP_TOLERANCE)
    covered = moved > 0
    assert torch.allclose(colour[:, covered], torch.tensor([0.8, 0.6, 0.4])[:, None].expand(3, int(covered.sum())))


def test_paste_from_another_clip_goes_in_front():
    source = make_stack(GREEN, [(2, 5.0, RED, [[0.0, 1.0], [0.0, 1.0]])])
    target = make_stack(BLUE, [(1, 1.0, GREEN, torch.ones(3, 4).tolist())])
    pasted = paste(target, cut_out(source, 2), Placement(dx=2, dy=1), instance_id=7)
    assert pasted.ids == (0, 1, 7) and pasted.order() == [2, 1, 0]
    assert torch.allclose(pasted.weights()[2][1:, 3], torch.ones(2), atol=WARP_TOLERANCE)
    assert float(pasted.weights()[2].sum()) == pytest.approx(2.0, abs=WARP_TOLERANCE)


def test_keyframe_trajectory_interpolates():
    path = keyframe_trajectory({2: Placement(dx=0, scale=1.0), 6: Placement(dx=8, dy=-4, scale=4.0, angle=40)})
    assert path(0) == Placement(dx=0, scale=1.0)
    middle = path(4)
    assert (middle.dx, middle.dy, middle.angle) == (4.0, -2.0, 20.0)
    assert middle.scale == pytest.approx(2.0)
    assert path(9) == Placement(dx=8, dy=-4, scale=4.0, angle=40)
    with pytest.raises(LayerError):
        keyframe_trajectory({})


def test_drag_along_a_trajectory_over_a_clip():
    frames = [make_stack(BLUE, [(4, 1.0, RED, frame_with_block().tolist())]) for _ in range(3)]
    path = keyframe_trajectory({0: Placement(), 2: Placement(dx=2)})
    moved = list(drag_clip(frames, 4, path))
    for index, stack in enumerate(moved):
        assert torch.allclose(stack.alpha[1], frame_with_block(1 + index), atol=WARP_TOLERANCE)
    with pytest.raises(InstanceNotFoundError):
        list(drag_clip(frames, 8, path))


def test_paste_clip_stops_when_the_source_ends():
    source = [make_stack(GREEN, [(2, 1.0, RED, [[1.0]])])]
    targets = [make_stack(BLUE, [(1, 2.0, GREEN, [[0.0, 0.0]])]) for _ in range(2)]
    out = list(paste_clip(targets, source, 2, lambda n: Placement(dx=1), instance_id=9))
    assert out[0].ids == (0, 1, 9) and out[0].render()[:, 0, 1].tolist() == list(RED)
    assert out[1].ids == (0, 1)
    with pytest.raises(InstanceNotFoundError):
        list(paste_clip(targets, source, 3, lambda n: Placement(), instance_id=9))
