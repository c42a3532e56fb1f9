"""Instance removal (MP-Mat eq. 9-10).

Removing person ``j`` hands their weight ``alpha_j`` to the planes behind them. With each plane stored as
its own coverage ``a`` (see :mod:`vmat.layers.stack`), dropping plane ``j`` and compositing the rest does
exactly that: behind ``j`` the transmittance grows by ``alpha_j``, and the planes behind take it front to
back, each its own share ``a_t``. Where the nearest plane behind ``j`` with ``alpha_t > 0`` is opaque, as
in the paper, it receives all of ``alpha_j`` (eq. 9); where ``j`` is the farthest person, the background
receives it; where the plane behind is itself soft (hair over hair), the rest passes on to the planes
behind it instead of being piled onto one plane. The edited image is eq. 10, ``sum_{i != j} c_i alpha_i``.

What appears in the hole is the colour of the planes behind, so the background plane should first be
completed where it was hidden (:mod:`vmat.editing.completion`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vmat.editing.clip import edit_frames
from vmat.layers.errors import LayerError
from vmat.layers.stack import BACKGROUND_ID, LayerStack


def _as_ids(instance_ids: int | Iterable[int]) -> list[int]:
    ids = [instance_ids] if isinstance(instance_ids, int) else [int(i) for i in instance_ids]
    if BACKGROUND_ID in ids:
        raise LayerError("The background (instance 0) cannot be removed; replace it instead.")
    return ids


def remove(stack: LayerStack, instance_ids: int | Iterable[int]) -> LayerStack:
    """Remove one or more people from a frame.

    Args:
        stack: the frame's layers.
        instance_ids: id or ids to remove; each must be in the frame.

    Returns:
        The layers without those people; ``.render()`` is the edited frame.
    """
    ids = _as_ids(instance_ids)
    return stack.without([stack.index_of(i) for i in ids])


def remove_clip(stacks: Iterable[LayerStack], instance_ids: int | Iterable[int]) -> Iterator[LayerStack]:
    """Remove people from every frame of a clip, streamed; each frame loses those of them it holds."""
    ids = _as_ids(instance_ids)
    return edit_frames(stacks, ids, lambda _, stack: remove(stack, [i for i in ids if i in stack.ids]), need_all=False)
