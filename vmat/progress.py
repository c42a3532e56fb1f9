"""Progress bars for long work, shared by the command line and the Python API.

Bars go to stderr so that stdout stays clean for machine-readable output (``--json``). They are shown
only on a terminal unless forced, and can be turned off globally (``vmat --quiet``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

_enabled: bool | None = None  # None: show when stderr is a terminal


def set_progress(enabled: bool | None) -> None:
    """Turn progress bars on (``True``), off (``False``) or back to automatic (``None``)."""
    global _enabled
    _enabled = enabled


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "frame") -> Iterator[T]:
    """Wrap ``items`` in a progress bar (or pass them through when bars are off)."""
    disable = None if _enabled is None else not _enabled
    yield from tqdm(items, total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=False)
