"""Stopping a batch job on SIGINT or SIGTERM within seconds, and cleanly.

The first SIGINT or SIGTERM raises :class:`BatchInterrupted` in the driver's main thread
(:class:`StopSignals`); later ones are ignored, so that the clean-up runs to its end. The clips being
processed run on other threads, which a signal never reaches: :class:`ClipThreads` stops them mid-clip
by raising :class:`ClipInterrupted` inside each (CPython's ``PyThreadState_SetAsyncExc``), so that every
``with`` and ``finally`` on the way out runs: temporary outputs and scratch folders are removed as after
any other error. The exception lands at a thread's next Python instruction, so a thread inside one long
call into C stops when that call returns (the Ray runner waits for its actors in short slices for this).
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class BatchInterrupted(KeyboardInterrupt):
    """A batch job stopped by ``signum``; ``report`` is the job's report as written at the stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.report: Any = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class ClipInterrupted(BaseException):
    """Raised inside a clip's thread to stop it (a BaseException: no ``except Exception`` may swallow it)."""


class StopSignals:
    """While active, the first SIGINT or SIGTERM raises :class:`BatchInterrupted` in the main thread.

    Handlers can only be set from the main thread; elsewhere this does nothing (signals keep their
    handlers). ``ray.init`` replaces the SIGTERM handler with its own, which exits at once with nothing
    cleaned: :func:`vmat.pipelines.cluster.ray_cluster` puts the previous one back.
    """

    handled = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in self.handled:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is None:
            self.signum = signum
            raise BatchInterrupted(signum)


class ClipThreads:
    """The threads running clips: :meth:`running` marks where a thread may be stopped, :meth:`interrupt`
    stops every thread inside it and refuses new entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self.stopped = False

    @contextmanager
    def running(self) -> Iterator[None]:
        """The block a clip's work runs in; raises :class:`ClipInterrupted` when stopped, here or on entry."""
        ident = threading.get_ident()
        with self._lock:
            if self.stopped:
                raise ClipInterrupted
            self._running.add(ident)
        try:
            yield
        finally:
            # Under the lock: a thread that interrupt() reached is still registered, so its exception lands
            # here at the latest, never after the block (where the clip's output is being committed).
            with self._lock:
                self._running.discard(ident)

    def interrupt(self) -> None:
        with self._lock:
            self.stopped = True
            for ident in self._running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(ClipInterrupted))
