"""The one interface every pipeline step implements, and the in-process way to chain them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Protocol

from vmat.io.metadata import VideoInfo
from vmat.pipeline.cache import Lease, factory_key, shared
from vmat.pipeline.clock import StageClock
from vmat.pipeline.record import FrameRecord


class Stage:
    """A pipeline step over a clip's frames, called the same way by every runner.

    For each clip a runner calls :meth:`start_clip`, then :meth:`process` with consecutive batches of records
    in frame order, then :meth:`finish_clip`. ``process`` returns the records it has finished, which may be
    fewer than it was given (a stage that looks ahead holds some back) and are always in frame order;
    ``finish_clip`` returns the rest. A stage whose ``ordered`` is true keeps state from frame to frame (mask
    propagation, temporal smoothing, background completion), so one instance must see a whole clip in
    order; stages with ``ordered = False`` treat each frame on its own and may be pooled across workers.
    """

    # Class attributes of each stage kind; a StageChain sets its own from its parts.
    name: str = "stage"
    ordered: bool = False
    # Cheap next to handing its records on (it only shrinks them, say): the Ray runner runs it in the same call
    # as the stage before it, so what crosses to the next worker is what it made, not what it was given.
    light: bool = False

    def start_clip(self, info: VideoInfo) -> None:
        """Reset per-clip state; ``info`` describes the clip about to come."""

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        raise NotImplementedError

    def finish_clip(self) -> list[FrameRecord]:
        """Return the records still held back at the end of the clip."""
        return []


def batched(records: Iterable[FrameRecord], size: int) -> Iterator[list[FrameRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


def run_stages(
    records: Iterable[FrameRecord], stages: list[Stage], info: VideoInfo, batch_size: int = 4
) -> Iterator[FrameRecord]:
    """Pass a clip's records through ``stages`` in this process, lazily: frames flow through one batch at a time."""
    stream: Iterable[FrameRecord] = records
    for stage in stages:
        stream = _through(stage, stream, info, batch_size)
    return iter(stream)


def _through(stage: Stage, records: Iterable[FrameRecord], info: VideoInfo, batch_size: int) -> Iterator[FrameRecord]:
    stage.start_clip(info)
    for batch in batched(records, batch_size):
        yield from stage.process(batch)
    yield from stage.finish_clip()


StageFactory = Callable[[], "Stage"]
"""Builds a stage where it will run (a Ray actor builds its own, so models load on its device)."""


class StageChain(Stage):
    """Consecutive stages run as one: each batch goes through them in turn, so a runner gives them one worker
    (one Ray actor, one hop) instead of one each. Ordered when any of them is."""

    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages
        self.name = "+".join(stage.name for stage in stages)
        self.ordered = any(stage.ordered for stage in stages)
        self.light = all(stage.light for stage in stages)

    def start_clip(self, info: VideoInfo) -> None:
        for stage in self.stages:
            stage.start_clip(info)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for stage in self.stages:
            batch = stage.process(batch) if batch else []
        return batch

    def finish_clip(self) -> list[FrameRecord]:
        # What an earlier stage held back still passes the stages after it.
        done: list[FrameRecord] = []
        for stage in self.stages:
            done = (stage.process(done) if done else []) + stage.finish_clip()
        return done


def chained(*factories: StageFactory) -> StageChain:
    """The stages ``factories`` build, as one :class:`StageChain`; ``partial(chained, a, b)`` is its factory."""
    return StageChain([factory() for factory in factories])


def stage_names(factory: StageFactory) -> list[str]:
    """The names of the stages ``factory`` builds (several for a :func:`chained` one), without building them;
    ``"stage"`` for a part whose class :func:`stage_classes` cannot see."""
    return [owner.name if owner is not None else Stage.name for owner in stage_classes(factory)]


def stage_classes(factory: StageFactory) -> list[type[Stage] | None]:
    """The :class:`Stage` classes ``factory`` builds, in order, without building them: a factory is a Stage
    class, a classmethod of one (``DepthStage.build``), a ``partial`` of either, or a ``partial`` of
    :func:`chained` (one class per part); None for a part that is any other callable."""
    target: object = factory
    arguments: tuple = ()
    while isinstance(target, partial):
        arguments = target.args + arguments
        target = target.func
    if target is chained:
        return [owner for part in arguments for owner in stage_classes(part)]
    owner = getattr(target, "__self__", target)
    return [owner if isinstance(owner, type) and issubclass(owner, Stage) else None]


def timed(stage: Stage, clock: StageClock) -> Stage:
    """``stage`` with its work charged to its name on ``clock`` (each stage of a chain to its own)."""
    if isinstance(stage, StageChain):
        return StageChain([TimedStage(inner, clock) for inner in stage.stages])
    return TimedStage(stage, clock)


class TimedStage(Stage):
    """A stage whose work is charged to its name on a run's clock."""

    def __init__(self, inner: Stage, clock: StageClock) -> None:
        self.inner, self.clock = inner, clock
        self.name, self.ordered = inner.name, inner.ordered

    def start_clip(self, info: VideoInfo) -> None:
        self.inner.start_clip(info)

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        with self.clock.measure(self.name):
            return self.inner.process(batch)

    def finish_clip(self) -> list[FrameRecord]:
        with self.clock.measure(self.name):
            return self.inner.finish_clip()


class StageRunner(Protocol):
    """Runs a clip's records through stages built from factories; in-process, two-process and Ray runners all
    give the records back in frame order, with the same contents.

    The run's ``clock``, when given, is charged each stage's seconds by name, wherever the stage ran (and a
    runner's own waits); a runner serves clip after clip, so the clock comes with each run, not the runner.
    """

    def run(
        self,
        records: Iterable[FrameRecord],
        factories: list[StageFactory],
        info: VideoInfo,
        batch_size: int,
        clock: StageClock | None = None,
    ) -> Iterator[FrameRecord]: ...


class InProcessRunner:
    """Every stage in this process, one batch at a time (the default for one clip: no start-up cost).

    The stages are leased from this process's :data:`~vmat.pipeline.cache.shared` cache for the run, so the
    next clips reuse them instead of building them (and loading their weights) again.
    """

    def run(
        self,
        records: Iterable[FrameRecord],
        factories: list[StageFactory],
        info: VideoInfo,
        batch_size: int,
        clock: StageClock | None = None,
    ) -> Iterator[FrameRecord]:
        leases = shared.lease([(factory_key(factory), factory) for factory in factories])
        stages = [stage if clock is None else timed(stage, clock) for _, stage in leases]
        return _releasing(run_stages(records, stages, info, batch_size), leases)


def _releasing(records: Iterator[FrameRecord], leases: list[Lease]) -> Iterator[FrameRecord]:
    """``records``, the leased stages handed back to the cache once the run ends, however it ends."""
    try:
        yield from records
    finally:
        shared.release_all(leases)
