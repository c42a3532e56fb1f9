"""Built stages kept for the next clips, so a model stage loads its weights once per worker, not once per clip.

Both runners use it: the in-process runner leases its stages from :data:`shared` (one cache per process, so a
batch of clips in one process builds each stage once), a Ray :class:`~vmat.pipelines.runner.StageWorker` from
a cache of its own. A stage is found again by its factory's fingerprint (:func:`factory_key`): the pickled
factory, so factories with the same arguments share a build, while one whose arguments change with every
clip (a clip's own mask folder) gets a build of its own.

A stage is leased: while one run holds it no other run gets it (another is built), so two clips driven at
once in one process (two threads, or two generators interleaved) never share a stage's per-clip state.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # stage.py's in-process runner imports this module
    from vmat.pipeline.stage import Stage, StageFactory

Lease = tuple["str | None", "Stage"]
"""A stage taken from a cache, with the fingerprint it goes back under."""


def factory_key(factory: StageFactory, dumps: Callable[[object], bytes] = pickle.dumps) -> str | None:
    """The fingerprint of ``factory`` (its pickled bytes, hashed); ``None`` when ``dumps`` cannot pickle it (a
    lambda under plain pickle): such a stage is built afresh for every run."""
    try:
        return hashlib.sha1(dumps(factory)).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


class StageCache:
    """Idle built stages by factory fingerprint, the ``size`` most recently returned kept (thread-safe)."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.builds = 0
        self._idle: OrderedDict[tuple[str, int], Stage] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, key: str | None, factory: StageFactory) -> Stage:
        """An idle stage built by a factory with fingerprint ``key``, or a new one from ``factory`` (always when
        ``key`` is ``None``). Hand it back with :meth:`release` when the run is over."""
        if key is not None:
            with self._lock:
                for slot in reversed(self._idle):
                    if slot[0] == key:
                        return self._idle.pop(slot)
        stage = factory()  # outside the lock: loading weights takes a while
        with self._lock:
            self.builds += 1
        return stage

    def lease(self, parts: Sequence[tuple[str | None, StageFactory]]) -> list[Lease]:
        """A stage for each ``(key, factory)`` (:meth:`acquire`); those taken go back if one cannot be built."""
        leases: list[Lease] = []
        try:
            for key, factory in parts:
                leases.append((key, self.acquire(key, factory)))
        except BaseException:
            self.release_all(leases)
            raise
        return leases

    def release_all(self, leases: Sequence[Lease]) -> None:
        for key, stage in leases:
            self.release(key, stage)

    def release(self, key: str | None, stage: Stage) -> None:
        """Keep ``stage`` for the next run of ``key``'s factory (the least recently returned go beyond ``size``)."""
        if key is None:
            return
        with self._lock:
            self._idle[(key, id(stage))] = stage
            while len(self._idle) > self.size:
                self._idle.popitem(last=False)


shared = StageCache(size=8)
"""This process's stages for the in-process runner (8 idle ones: a pipeline's stages, and a few clips' own)."""
