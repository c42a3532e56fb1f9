import pytest
import torch

from tests.layers.stacks import BLUE, GREEN, RED, make_stack, two_people
from vmat.editing import remove, remove_clip
from vmat.layers import InstanceNotFoundError, LayerError, LayerStack


def paper_removal(weights: torch.Tensor, order: list[int], j: int) -> torch.Tensor:
    """Eq. 9 literally: each pixel's alpha_j goes to the nearest plane behind j with alpha_t > 0."""
    weights = weights.clone()
    behind = order[order.index(j) + 1 :]
    for y in range(weights.shape[1]):
        for x in range(weights.shape[2]):
            if weights[j, y, x] > 0:
                t = next(t for t in behind if weights[t, y, x] > 0 or t == 0)
                weights[t, y, x] += weights[j, y, x]
    weights[j] = 0
    return weights


def test_removing_the_front_person_reveals_what_is_behind():
    edited = remove(two_people(), 1)
    assert edited.ids == (0, 2)
    image = edited.render()
    # Person 2's own alpha [[0, 1, 1], [1, .5, 0]] is now fully visible; the rest is background.
    assert torch.equal(image[1], torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.5, 0.0]]))
    assert torch.equal(image[2], torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 1.0]]))
    assert torch.equal(image[0], torch.zeros(2, 3))


def test_removing_the_farthest_person_gives_their_alpha_to_the_background():
    stack = two_people()
    edited = remove(stack, 2)
    weights = edited.weights()
    assert torch.equal(weights[1], stack.weights()[1])
    assert torch.equal(weights[0], torch.tensor([[0.0, 0.0, 1.0], [0.5, 1.0, 1.0]]))
    assert torch.equal(weights[0], paper_removal(stack.weights(), stack.order(), 2)[0])


def test_equals_eq_9_on_layers_from_visible_mattes():
    # A matting model only sees visible mattes; there eq. 9 and our removal agree pixel for pixel.
    truth = two_people()
    stack = LayerStack.from_weights(truth.weights(), truth.colour, truth.depth, truth.ids)
    expected = paper_removal(stack.weights(), stack.order(), 1)
    got = remove(stack, 1).weights()
    assert torch.equal(got[1], expected[2]) and torch.equal(got[0], expected[0])


def test_soft_plane_behind_takes_only_its_share():
    # Hair over hair: 0.5 in front of 0.5 in front of the background. Without the front plane, the
    # middle one shows at its own 0.5 (eq. 9 would pile all 0.75 onto it).
    stack = make_stack(BLUE, [(1, 1.0, RED, [[0.5]]), (2, 2.0, GREEN, [[0.5]])])
    assert stack.weights()[:, 0, 0].tolist() == [0.25, 0.5, 0.25]
    assert remove(stack, 1).weights()[:, 0, 0].tolist() == [0.5, 0.5]


def test_removing_several_people_at_once():
    edited = remove(two_people(), [1, 2])
    assert edited.ids == (0,) and torch.equal(edited.render()[2], torch.ones(2, 3))


def test_bad_ids():
    with pytest.raises(LayerError, match="background"):
        remove(two_people(), 0)
    with pytest.raises(InstanceNotFoundError):
        remove(two_people(), 5)


def test_clip_removal_keeps_ids_over_time_and_skips_absent_frames():
    frames = [two_people(), two_people().without([1]), two_people()]
    edited = list(remove_clip(frames, [1]))
    assert [s.ids for s in edited] == [(0, 2), (0, 2), (0, 2)]
    assert torch.equal(edited[1].render(), frames[1].render())
    with pytest.raises(InstanceNotFoundError, match=r"\[9\]"):
        list(remove_clip(frames, 9))
