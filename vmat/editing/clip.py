"""Apply a per-frame edit over a whole clip, streaming, with instance ids stable over time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from vmat.layers.errors import InstanceNotFoundError
from vmat.layers.stack import LayerStack


def edit_frames(
    stacks: Iterable[LayerStack],
    instance_ids: Iterable[int],
    edit: Callable[[int, LayerStack], LayerStack],
    *,
    need_all: bool = True,
) -> Iterator[LayerStack]:
    """Yield ``edit(frame_index, stack)`` for frames holding the ids, other frames unchanged.

    With ``need_all`` a frame is edited only when it holds every id (reordering two people needs both),
    otherwise when it holds any. A person who is out of view in some frames is simply left alone there.
    An id that never appears in the whole clip is a user mistake and raises
    :class:`InstanceNotFoundError` once the clip has ended (check ids up front with
    ``LayersReader.info.instance_ids`` to fail before any work).
    """
    wanted = [int(i) for i in instance_ids]
    seen: set[int] = set()
    for index, stack in enumerate(stacks):
        present = [i for i in wanted if i in stack.ids]
        seen.update(present)
        wanted_here = len(present) == len(wanted) if need_all else bool(present)
        yield edit(index, stack) if wanted_here else stack
    missing = sorted(set(wanted) - seen)
    if missing:
        raise InstanceNotFoundError(f"Instance ids {missing} do not appear in any frame of this clip.")
