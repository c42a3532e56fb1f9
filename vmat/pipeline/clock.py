"""Where a run's time goes: exclusive seconds per stage, even when stages are nested generators."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class StageClock:
    """Charges elapsed time to named stages, each charge net of the time spent in stages nested inside it.

    Streamed stages call each other (pulling a frame from completion runs the layers reader inside it), so
    plain timers would count the inner stages twice; this one keeps a stack of open measurements.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._open: list[float] = []  # time already charged to stages nested in each open measurement

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self._open.append(0.0)
        try:
            yield
        finally:
            nested = self._open.pop()
            elapsed = time.perf_counter() - started
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - nested
            if self._open:
                self._open[-1] += elapsed

    def add(self, seconds: dict[str, float]) -> None:
        """Charge time measured elsewhere (another process's clock) to its stages."""
        for name, value in seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + value

    def iterate(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """Yield ``items``, charging the time spent producing each to ``name``."""
        iterator = iter(items)
        while True:
            with self.measure(name):
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            yield item
