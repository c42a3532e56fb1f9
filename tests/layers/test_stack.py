import pytest
import torch

from tests.layers.stacks import BLUE, GREEN, RED, make_stack, two_people
from vmat.errors import VmatError
from vmat.layers import InstanceNotFoundError, LayerError, LayerStack, check_integration


def test_weights_are_over_compositing_front_to_back():
    weights = two_people().weights()
    assert torch.equal(weights[1], torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]]))
    assert torch.equal(weights[2], torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]))
    assert torch.equal(weights[0], torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 1.0]]))


def test_render_is_the_integration_sum():
    image = two_people().render()
    # Red, green and blue planes make each channel equal to one plane's weight.
    assert torch.equal(image[0], torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.0, 0.0]]))
    assert torch.equal(image[1], torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]]))
    assert torch.equal(image[2], torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 1.0]]))


def test_order_follows_depth_and_puts_background_last():
    stack = make_stack(BLUE, [(7, 3.0, RED, [[1.0]]), (4, 1.0, GREEN, [[1.0]]), (5, 1.0, RED, [[0.0]])])
    # Equal depths keep plane order: plane 2 (id 4) before plane 3 (id 5).
    assert stack.order() == [2, 3, 1, 0]
    assert stack.render()[:, 0, 0].tolist() == list(GREEN)


def test_tensor_round_trip_is_exact():
    stack = two_people()
    tensor = stack.to_tensor()
    assert tensor.shape == (3, 4, 2, 3)
    back = LayerStack.from_tensor(tensor, stack.depth, stack.ids)
    assert torch.equal(back.colour, stack.colour) and torch.equal(back.alpha, stack.alpha)
    assert back.ids == stack.ids


def test_from_weights_recovers_own_alpha_where_visible():
    stack = two_people()
    rebuilt = LayerStack.from_weights(stack.weights(), stack.colour, stack.depth, stack.ids)
    assert torch.equal(rebuilt.weights(), stack.weights())
    # Person 2 behind the opaque part of person 1 cannot be seen, so its own alpha there is unknown (0).
    assert rebuilt.alpha[2, 0, 1] == 0.0
    assert rebuilt.alpha[2, 1, 0] == 1.0  # 0.5 visible through 0.5 of person 1


def test_from_weights_checks_the_integration_property():
    stack = two_people()
    weights = stack.weights()
    weights[0, 1, 2] = 0.7
    with pytest.raises(LayerError, match=r"pixel \(x=2, y=1\) sum to 0.7000"):
        LayerStack.from_weights(weights, stack.colour, stack.depth, stack.ids)


def test_check_integration_rejects_negative_and_nan_weights():
    with pytest.raises(LayerError, match="negative"):
        check_integration(torch.tensor([[[1.5]], [[-0.5]]]))
    with pytest.raises(LayerError, match="NaN"):
        check_integration(torch.tensor([[[float("nan")]]]))


def test_validate_rejects_a_transparent_background_and_out_of_range_alpha():
    stack = two_people()
    alpha = stack.alpha.clone()
    alpha[0, 0, 0] = 0.5
    with pytest.raises(LayerError, match="opaque"):
        stack.replace(alpha=alpha).validate()
    alpha = stack.alpha.clone()
    alpha[1, 0, 0] = 1.2
    with pytest.raises(LayerError, match=r"\[0, 1\]"):
        stack.replace(alpha=alpha).validate()
    stack.validate()


def test_malformed_stacks_raise_vmat_errors():
    stack = two_people()
    with pytest.raises(VmatError):
        LayerStack(stack.colour, stack.alpha, stack.depth, (1, 2, 3))
    with pytest.raises(LayerError, match="distinct"):
        LayerStack(stack.colour, stack.alpha, stack.depth, (0, 2, 2))
    with pytest.raises(LayerError, match="alpha must be"):
        LayerStack(stack.colour, stack.alpha[:, :1], stack.depth, stack.ids)
    with pytest.raises(InstanceNotFoundError, match="Instance 9 is not in this frame"):
        stack.index_of(9)


def test_without_and_with_plane():
    stack = two_people()
    fewer = stack.without([1])
    assert fewer.ids == (0, 2)
    more = fewer.with_plane(torch.zeros(3, 2, 3), torch.ones(2, 3), 0.5, 9)
    assert more.ids == (0, 2, 9) and more.order() == [2, 1, 0]
    with pytest.raises(LayerError, match="already"):
        more.with_plane(torch.zeros(3, 2, 3), torch.ones(2, 3), 0.5, 9)
    with pytest.raises(LayerError, match="background"):
        stack.without([0])
