import pytest
import torch

from tests.layers.stacks import BLUE, GREEN, RED, make_stack, two_people
from vmat.editing import reorder, reorder_clip, with_order
from vmat.layers import LayerError, LayerStack


def algorithm_1(stack: LayerStack, p: int, q: int) -> torch.Tensor:
    """Appendix A.2, Algorithm 1, literally: alpha swaps between adjacent planes on the sorted stack.

    Returns the edited effective weights in the stack's plane order. ``Omega`` uses the colour support,
    which on these test stacks is the own-alpha support.
    """
    weights = stack.weights().clone()
    sorted_planes = stack.order()[:-1]
    support = stack.alpha > 0
    position_p, position_q = sorted_planes.index(stack.index_of(p)), sorted_planes.index(stack.index_of(q))
    plane_p, plane_q = sorted_planes[position_p], sorted_planes[position_q]

    def swap(a: int, b: int) -> None:
        omega = support[a] & support[b]
        weights[a][omega], weights[b][omega] = weights[b][omega].clone(), weights[a][omega].clone()

    for position in range(position_p + 1, position_q + 1):
        swap(plane_p, sorted_planes[position])
    for position in range(position_q - 1, position_p, -1):
        swap(plane_q, sorted_planes[position])
    return weights


def test_adjacent_swap_exchanges_alpha_in_the_overlap():
    edited = reorder(two_people(), 1, 2)
    weights = edited.weights()
    assert edited.order() == [2, 1, 0]
    assert torch.equal(weights[2], torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.5, 0.0]]))
    assert torch.equal(weights[1], torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert torch.equal(weights[0], torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 1.0]]))


def test_soft_front_edge_goes_fully_behind():
    # Person 1's 0.5 edge in front of opaque person 2: after the swap person 2 covers it completely.
    stack = make_stack(BLUE, [(1, 1.0, RED, [[0.5]]), (2, 2.0, GREEN, [[1.0]])])
    assert reorder(stack, 1, 2).weights()[:, 0, 0].tolist() == [0.0, 0.0, 1.0]


def three_in_a_row() -> LayerStack:
    """1x4 pixels, P (id 1) in front of M (id 2) in front of Q (id 3)."""
    return make_stack(
        BLUE,
        [
            (1, 1.0, RED, [[1.0, 1.0, 0.0, 0.5]]),
            (2, 2.0, GREEN, [[1.0, 1.0, 1.0, 0.0]]),
            (3, 3.0, BLUE, [[1.0, 0.0, 1.0, 1.0]]),
        ],
    )


def test_general_case_with_a_plane_between():
    stack = three_in_a_row()
    edited = reorder(stack, 1, 3)
    assert edited.order() == [3, 2, 1, 0]  # {q, p+1, ..., q-1, p}
    assert edited.depth.tolist() == [float("inf"), 3.0, 2.0, 1.0]
    weights = edited.weights()[:, 0]
    assert weights[3].tolist() == [1.0, 0.0, 1.0, 1.0]  # Q now in front wherever it is
    assert weights[2].tolist() == [0.0, 1.0, 0.0, 0.0]  # M now in front of P
    assert weights[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    # The pair order does not matter.
    assert torch.equal(reorder(stack, 3, 1).weights(), edited.weights())


def test_matches_algorithm_1_on_random_binary_stacks():
    generator = torch.Generator().manual_seed(4)
    for _ in range(20):
        people = [
            (i, float(d), RED, (torch.rand(3, 4, generator=generator) > 0.4).float().tolist())
            for i, d in zip(range(1, 5), torch.randperm(4, generator=generator) + 1)
        ]
        stack = make_stack(BLUE, people)
        p, q = (int(i) + 1 for i in torch.randperm(4, generator=generator)[:2])
        front, back = sorted((p, q), key=lambda i: float(stack.depth[stack.index_of(i)]))
        assert torch.equal(reorder(stack, p, q).weights(), algorithm_1(stack, front, back))


def test_ties_and_errors():
    stack = make_stack(BLUE, [(1, 1.0, RED, [[1.0]]), (2, 1.0, GREEN, [[1.0]])])
    assert reorder(stack, 1, 2).render()[:, 0, 0].tolist() == list(GREEN)
    with pytest.raises(LayerError, match="background"):
        reorder(stack, 0, 1)
    with pytest.raises(LayerError, match="every instance plane"):
        with_order(stack, [1])


def test_clip_reordering_only_where_both_appear():
    frames = [two_people(), two_people().without([2])]
    edited = list(reorder_clip(frames, 1, 2))
    assert edited[0].order() == [2, 1, 0]
    assert torch.equal(edited[1].render(), frames[1].render())
