"""Occlusion reordering (MP-Mat eq. 11-13 and Algorithm 1, appendix A.2).

Algorithm 1 moves plane ``p`` back past every plane up to ``q`` by swapping adjacent planes, then moves
``q`` forward to ``p``'s old place, turning the depth order ``{..., p, p+1, ..., q-1, q, ...}`` into
``{..., q, p+1, ..., q-1, p, ...}``. Each adjacent swap exchanges the two planes' effective alphas where
both are present (eq. 11-12). With planes stored as their own coverage (see :mod:`vmat.layers.stack`), a
swap of adjacent planes is exchanging their places in the compositing order, and the weights follow from
compositing: for opaque overlaps this is the paper's alpha exchange, and for soft edges it is the exact
result of the new occlusion order (a plain exchange of effective alphas would leave a half-transparent
front edge half-visible behind the other person). So the whole algorithm reduces to exchanging the depth
positions of ``p`` and ``q``; planes between them keep theirs, as the final order above says.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import torch

from vmat.editing.clip import edit_frames
from vmat.layers.errors import LayerError
from vmat.layers.stack import BACKGROUND_ID, LayerStack


def with_order(stack: LayerStack, order: Sequence[int]) -> LayerStack:
    """Re-assign plane depths so that compositing follows ``order``.

    The stack's own depth values are reused, sorted, and handed out along ``order``, so depths keep
    their scale; equal values are nudged apart so that the order is strict.

    Args:
        stack: the frame's layers.
        order: every instance plane index once, front to back (the background excluded).
    """
    if sorted(order) != list(range(1, len(stack.ids))):
        raise LayerError(f"A plane order must list every instance plane once, got {list(order)}.")
    values = torch.sort(stack.depth[1:]).values.tolist()
    depth = stack.depth.clone()
    previous = -float("inf")
    for plane, value in zip(order, values):
        value = max(value, float(torch.nextafter(torch.tensor(previous), torch.tensor(float("inf")))))
        depth[plane] = value
        previous = value
    return stack.replace(depth=depth)


def reorder(stack: LayerStack, p: int, q: int) -> LayerStack:
    """Exchange the occlusion order of instances ``p`` and ``q`` (Algorithm 1, general case).

    Whichever of the two is in front goes to the other's place behind, and vice versa; planes between
    them stay where they are.

    Args:
        stack: the frame's layers.
        p, q: instance ids, both in the frame.
    """
    if BACKGROUND_ID in (p, q):
        raise LayerError("The background (instance 0) is always behind everyone and cannot be reordered.")
    plane_p, plane_q = stack.index_of(p), stack.index_of(q)
    order = stack.order()[:-1]
    at_p, at_q = order.index(plane_p), order.index(plane_q)
    order[at_p], order[at_q] = plane_q, plane_p
    return with_order(stack, order)


def reorder_clip(stacks: Iterable[LayerStack], p: int, q: int) -> Iterator[LayerStack]:
    """Exchange the occlusion order of ``p`` and ``q`` in every frame holding both (streamed)."""
    return edit_frames(stacks, [p, q], lambda _, stack: reorder(stack, p, q))
