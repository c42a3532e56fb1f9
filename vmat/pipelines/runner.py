"""The Ray runner: a clip's stages on pools of Ray actors, with the records back in frame order.

The stages are first grouped into calls (:func:`fuse`): consecutive stages with ``ordered = False`` make one
call, and a ``light`` stage (shrinking the frames to the processing size) joins the call before it, so a
batch makes one hop per group instead of one per stage, and the full-size frames cross the object store once,
into the first call, which hands on only what it shrank. Each group gets a pool of :class:`StageWorker`
actors. A worker builds its stages from the factory it is sent (so a model loads on the worker's device) and
keeps them for the next clips (:class:`~vmat.pipeline.cache.StageCache`).

- A group with ``ordered = False`` runs on ``workers`` actors; consecutive batches go to them in turn, and
  each batch is a call of its own (``start_clip``, ``process``, ``finish_clip``), as the stages treat
  every frame on their own.
- An ordered group (propagation, temporal smoothing) needs one instance to see a whole clip in order, so
  its pool holds ``workers`` *lanes*: a clip leases one lane for its duration, and Ray runs one caller's
  calls on one actor in submission order. Several clips run at once when there are several lanes.

Batches flow actor to actor through the object store; the driver keeps at most ``max_in_flight``
batches of a clip in the chain and waits for the oldest before reading more frames (backpressure), so
memory stays flat and frames never pile up in the object store. Each batch carries the seconds every stage
spent on the clip's batches so far, timed in the actors as the in-process runner times them, and the bytes
each call handed on; the driver adds the seconds to the run's clock and counts the bytes (:meth:`RayRunner.moved`).

A pooled actor that dies is restarted by Ray and its batches are redone (``max_restarts``,
``task_retries``). An ordered lane that dies loses the clip's state, so the clip cannot go on: the run
raises :class:`WorkerLostError`, the lane is restarted for the next clip, and a batch job redoes the clip.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import uuid
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from vmat.errors import ConfigError, VmatError
from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo
from vmat.layers import LayerStack
from vmat.pipeline.cache import Lease, StageCache, factory_key
from vmat.pipeline.clock import StageClock
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import Stage, StageChain, StageFactory, batched, stage_classes, timed


_WAIT_SLICE_SECONDS = 0.5


class WorkerLostError(RuntimeError):
    """A worker holding a clip's ordered state died; the clip must be run again (a transient failure)."""


@dataclass(frozen=True)
class RayRunnerConfig:
    """How the stages are spread over actors.

    - ``workers``: actors per pooled group, and lanes (clips at once) per ordered group.
    - ``num_cpus`` / ``num_gpus``: Ray resources reserved per actor; fractions share a device (0.25 GPU:
      four actors on one GPU). ``stage_num_gpus`` overrides ``num_gpus`` by stage name (a GPU for the
      depth model, none for reading masks); a group's actors take the largest share of its stages.
    - ``max_in_flight``: batches of one clip inside the chain at once (default ``2 * workers + 1``: every
      actor busy and one batch waiting for each).
    - ``max_restarts`` / ``task_retries``: how often a dead actor is restarted and a lost batch redone.
    - ``fuse_stages``: group the stages into calls (:func:`fuse`); ``False`` gives every stage a call of its own
      (an actor pool each, so ``stage_num_gpus`` places each stage on its own; and to measure what fusing saves).
    """

    workers: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    stage_num_gpus: Mapping[str, float] = field(default_factory=dict)
    max_in_flight: int | None = None
    max_restarts: int = 3
    task_retries: int = 3
    fuse_stages: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"the Ray runner needs at least one worker, not {self.workers}")
        if self.num_cpus < 0 or self.num_gpus < 0 or any(value < 0 for value in self.stage_num_gpus.values()):
            raise ConfigError("CPU and GPU shares per actor cannot be negative")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ConfigError(f"max_in_flight must be at least 1, not {self.max_in_flight}")

    @property
    def in_flight(self) -> int:
        return self.max_in_flight or 2 * self.workers + 1


@dataclass
class Parcel:
    """A batch on its way through the actors, and what the clip's batches cost so far: ``seconds`` by stage
    (summed over the stages it went through, and what an ordered stage did with batches it held back) and
    ``moved``, the bytes of records handed through the object store, by the call that sent them."""

    records: list[FrameRecord]
    seconds: dict[str, float] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)

    def handed_on(self, sender: str, records: list[FrameRecord], seconds: Mapping[str, float]) -> Parcel:
        """The parcel ``sender`` hands on: ``records``, and its ``seconds`` added to the costs so far."""
        spent = dict(self.seconds)
        for name, value in seconds.items():
            spent[name] = spent.get(name, 0.0) + value
        moved = dict(self.moved)
        moved[sender] = moved.get(sender, 0) + sum(map(record_bytes, records))
        return Parcel(records, spent, moved)


def record_bytes(record: FrameRecord) -> int:
    """The bytes of a record's arrays: about what it takes in the object store."""
    return sum(_nbytes(getattr(record, item.name)) for item in dataclasses.fields(record))


def _nbytes(value: object) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, Frame):
        return value.image.nbytes
    if isinstance(value, LayerStack):
        return sum(_nbytes(tensor) for tensor in (value.colour, value.alpha, value.depth))
    return 0


class StageWorker:
    """A Ray actor that runs one group of stages (see the module docstring).

    Each stage of a group comes from a :class:`~vmat.pipeline.cache.StageCache`, keyed by its factory's
    fingerprint: a model stage is built once per actor, also in a group whose first stage changes with every
    clip (a clip's own mask folder), and those per-clip stages do not pile up. Every call times its stages
    and returns a :class:`Parcel`.
    """

    cache_size = 8

    def __init__(self) -> None:
        self._cache = StageCache(self.cache_size)
        self._clip: str | None = None
        self._leases: list[Lease] = []
        self._stage: Stage | None = None
        self._clock = StageClock()

    def run_batch(self, parts: Parts, info: VideoInfo, parcel: Parcel) -> Parcel:
        """A pooled group on one batch, as a clip of its own."""
        leases = self._cache.lease(parts)
        clock = StageClock()
        try:
            working = timed(_assembled(leases), clock)
            working.start_clip(info)
            done = (working.process(parcel.records) if parcel.records else []) + working.finish_clip()
        finally:
            self._cache.release_all(leases)
        return parcel.handed_on(working.name, done, clock.seconds)

    def start_clip(self, clip: str, parts: Parts, info: VideoInfo) -> None:
        self._end_clip()
        self._leases = self._cache.lease(parts)
        self._clip, self._clock = clip, StageClock()
        self._stage = timed(_assembled(self._leases), self._clock)
        self._stage.start_clip(info)

    def process(self, clip: str, parcel: Parcel) -> Parcel:
        stage = self._current(clip)
        done = stage.process(parcel.records) if parcel.records else []
        return parcel.handed_on(stage.name, done, self._spent())

    def finish_clip(self, clip: str) -> Parcel:
        stage = self._current(clip)
        done = stage.finish_clip()
        parcel = Parcel([]).handed_on(stage.name, done, self._spent())
        self._end_clip()
        return parcel

    def _spent(self) -> dict[str, float]:
        """The seconds charged since the last call (each reaches the driver once)."""
        spent, self._clock.seconds = self._clock.seconds, {}
        return spent

    def _end_clip(self) -> None:
        """Hand the clip's stages back to the cache (also when the driver gave up on the clip without finishing it)."""
        self._cache.release_all(self._leases)
        self._leases, self._stage, self._clip = [], None, None

    def _current(self, clip: str) -> Stage:
        if clip != self._clip or self._stage is None:
            # A restarted actor comes back without the clip's state.
            raise WorkerLostError(f"worker lost the state of clip {clip}")
        return self._stage


def _assembled(leases: list[Lease]) -> Stage:
    """The leased stages of a group as one stage."""
    stages = [stage for _, stage in leases]
    return stages[0] if len(stages) == 1 else StageChain(stages)


Parts = tuple[tuple[str, StageFactory], ...]
"""The stages of a group, each as its factory's fingerprint and the factory."""


@dataclass(frozen=True)
class StageSpec:
    """A stage (or a group of them) as the runner plans with it, before anything is built: its ``names``
    (one per stage), whether it is ``ordered`` or ``light``, and its ``parts``."""

    names: tuple[str, ...]
    ordered: bool
    light: bool
    parts: Parts

    @property
    def name(self) -> str:
        return "+".join(self.names)


def fuse(specs: list[StageSpec]) -> list[StageSpec]:
    """The calls a batch goes through: consecutive stages with ``ordered = False`` as one call, and a ``light``
    stage in the call of the stage before it (even an ordered one); every other stage a call of its own.

    A group runs as one :class:`~vmat.pipeline.stage.StageChain` of its parts: ordered when any of them is.
    """
    groups: list[list[StageSpec]] = []
    for spec in specs:
        if groups and (spec.light or not (spec.ordered or any(part.ordered for part in groups[-1]))):
            groups[-1].append(spec)
        else:
            groups.append([spec])
    return [_joined(group) for group in groups]


def _joined(group: list[StageSpec]) -> StageSpec:
    if len(group) == 1:
        return group[0]
    return StageSpec(
        names=tuple(name for spec in group for name in spec.names),
        ordered=any(spec.ordered for spec in group),
        light=all(spec.light for spec in group),
        parts=tuple(part for spec in group for part in spec.parts),
    )


class _Pool:
    """The actors of one group: handed out in turn (pooled) or leased one per clip (ordered lanes)."""

    def __init__(self, actors: list, ordered: bool) -> None:
        self.actors = actors
        self.ordered = ordered
        self._turn = 0
        self._lock = threading.Lock()
        self._free: queue.Queue = queue.Queue()
        for actor in actors:
            self._free.put(actor)

    def next(self):
        with self._lock:
            actor = self.actors[self._turn % len(self.actors)]
            self._turn += 1
        return actor

    def lease(self):
        return self._free.get()

    def release(self, actor) -> None:
        self._free.put(actor)


class RayRunner:
    """Runs a clip's stages on Ray actors (a :class:`~vmat.pipeline.stage.StageRunner`).

    Ray must be initialised first (:func:`vmat.pipelines.cluster.ray_cluster`). The actors are created on first
    use and kept for every later clip until :meth:`close`. ``run`` may be called from several threads at
    once to process several clips together.
    """

    def __init__(self, config: RayRunnerConfig = RayRunnerConfig()) -> None:
        self.config = config
        self._pools: dict[tuple[int, str, bool], _Pool] = {}
        self._described: dict[str, tuple[tuple[str, ...], bool, bool]] = {}
        self._moved: dict[str, int] = {}
        self._lock = threading.Lock()

    def run(
        self,
        records: Iterable[FrameRecord],
        factories: list[StageFactory],
        info: VideoInfo,
        batch_size: int,
        clock: StageClock | None = None,
    ) -> Iterator[FrameRecord]:
        """The records through the stages, in frame order; each stage's seconds (summed over the actors) are
        added to ``clock`` as the batches come back."""
        specs = [self._describe(factory) for factory in factories]
        groups = fuse(specs) if self.config.fuse_stages else specs
        pools = [self._pool(position, group) for position, group in enumerate(groups)]
        return self._run(records, groups, pools, info, batch_size, clock)

    def moved(self) -> dict[str, int]:
        """Bytes of records handed through the object store so far, by sender: ``"driver"`` for the batches
        sent to the first call, else the group that handed them on (the last one's go back to the driver)."""
        with self._lock:
            return dict(self._moved)

    def actors(self) -> dict[str, list]:
        """The actors of every group by its name ("shrink+depth+decompose"; for monitoring, and for tests that
        kill one)."""
        return {name: list(pool.actors) for (_, name, _), pool in self._pools.items()}

    def close(self) -> None:
        """Stop every actor; the next run creates new ones."""
        import ray

        with self._lock:
            for pool in self._pools.values():
                for actor in pool.actors:
                    ray.kill(actor, no_restart=True)
            self._pools.clear()

    def _run(
        self,
        records: Iterable[FrameRecord],
        groups: list[StageSpec],
        pools: list[_Pool],
        info: VideoInfo,
        batch_size: int,
        clock: StageClock | None,
    ) -> Iterator[FrameRecord]:
        clip = uuid.uuid4().hex
        lanes = {position: pool.lease() for position, pool in enumerate(pools) if pool.ordered}
        try:
            # Waited for, so that a stage that cannot start (a bad option) reports its own error.
            starts = [lane.start_clip.remote(clip, groups[at].parts, info) for at, lane in lanes.items()]
            for start in starts:
                _fetch(start)
            pending: deque = deque()
            for batch in batched(records, batch_size):
                parcel = Parcel([]).handed_on("driver", batch, {})
                pending.append(self._submit(parcel, 0, clip, groups, pools, lanes, info))
                while len(pending) >= self.config.in_flight:
                    yield from self._received(pending.popleft(), clock)
            for position, lane in lanes.items():
                # What an ordered group held back still has to pass the groups after it.
                pending.append(self._submit(lane.finish_clip.remote(clip), position + 1, clip, groups, pools, lanes, info))
            while pending:
                yield from self._received(pending.popleft(), clock)
        finally:
            for position, lane in lanes.items():
                pools[position].release(lane)

    def _received(self, reference, clock: StageClock | None) -> list[FrameRecord]:
        parcel = _fetch(reference)
        if clock is not None:
            clock.add(parcel.seconds)
        with self._lock:
            for sender, count in parcel.moved.items():
                self._moved[sender] = self._moved.get(sender, 0) + count
        return parcel.records

    def _submit(
        self, parcel, start: int, clip: str, groups: list[StageSpec], pools: list[_Pool], lanes: dict, info: VideoInfo
    ):
        """Send ``parcel`` (or a reference to one) through the groups from ``start`` on; return the last reference."""
        for position in range(start, len(groups)):
            group = groups[position]
            if group.ordered:
                parcel = lanes[position].process.remote(clip, parcel)
            else:
                parcel = pools[position].next().run_batch.remote(group.parts, info, parcel)
        return parcel

    def _pool(self, position: int, group: StageSpec) -> _Pool:
        import ray

        with self._lock:
            pool = self._pools.get((position, group.name, group.ordered))
            if pool is None:
                gpus = self._gpus(group.name)
                _check_resources(group.name, self._reserved(), (self.config.num_cpus, gpus), self.config.workers)
                actor_class = ray.remote(StageWorker).options(
                    num_cpus=self.config.num_cpus,
                    num_gpus=gpus,
                    max_restarts=self.config.max_restarts,
                    # Retried on a restarted lane, a call of the clip it lost finds no state and fails the
                    # clip (StageWorker._current), while the next clip's calls succeed.
                    max_task_retries=self.config.task_retries,
                )
                actors = [actor_class.remote() for _ in range(self.config.workers)]
                pool = self._pools[(position, group.name, group.ordered)] = _Pool(actors, group.ordered)
            return pool

    def _gpus(self, name: str) -> float:
        """The GPU share of a group's actors: the largest its stages ask for (``stage_num_gpus`` by stage name)."""
        return max(self.config.stage_num_gpus.get(part, self.config.num_gpus) for part in name.split("+"))

    def _reserved(self) -> tuple[float, float]:
        """CPUs and GPUs the actors created so far reserve."""
        cpus = gpus = 0.0
        for (_, name, _), pool in self._pools.items():
            cpus += self.config.num_cpus * len(pool.actors)
            gpus += self._gpus(name) * len(pool.actors)
        return cpus, gpus

    def _describe(self, factory: StageFactory) -> StageSpec:
        """Names, order needs and fingerprint of the stage ``factory`` builds, without building it here (a
        factory that must be built to say is built once per runner, in a throwaway worker)."""
        import ray.cloudpickle

        key = factory_key(factory, ray.cloudpickle.dumps)
        assert key is not None, "Ray's pickler takes any factory Ray can send"
        classes = stage_classes(factory)
        if all(owner is not None for owner in classes):
            known_classes = [owner for owner in classes if owner is not None]
            described = (
                tuple(name for owner in known_classes for name in owner.name.split("+")),
                any(owner.ordered for owner in known_classes),
                all(owner.light for owner in known_classes),
            )
        else:
            with self._lock:
                known = self._described.get(key)
            described = known or _describe_remotely(factory)
            with self._lock:
                self._described[key] = described
        names, ordered, light = described
        return StageSpec(names, ordered, light, ((key, factory),))


def _fetch(reference) -> Parcel:
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError, GetTimeoutError, RayActorError, RayTaskError

    lost = (ActorDiedError, ActorUnavailableError, RayActorError)
    try:
        while True:
            # In short slices: a batch job stops a clip's thread by raising in it (vmat.pipelines.signals), which
            # can only happen while the thread runs Python, not while it waits inside Ray's C++ code.
            try:
                return ray.get(reference, timeout=_WAIT_SLICE_SECONDS)
            except GetTimeoutError:
                continue
    except RayTaskError as error:
        # A user's mistake (a bad mask folder, say) keeps its own type, so the caller can report it plainly.
        cause = error.cause
        if isinstance(cause, (VmatError, WorkerLostError)):
            raise cause from None
        if isinstance(cause, lost):  # an upstream actor died while computing this task's input
            raise WorkerLostError(f"a Ray worker died: {cause}") from None
        raise
    except lost as error:
        raise WorkerLostError(f"a Ray worker died: {error}") from None


def _describe_remotely(factory: StageFactory) -> tuple[tuple[str, ...], bool, bool]:
    """Build the stage once in a throwaway worker, so that no model is loaded in the driver."""
    import ray

    @ray.remote(num_cpus=0)
    def describe(factory: StageFactory) -> tuple[tuple[str, ...], bool, bool]:
        stage = factory()
        return tuple(stage.name.split("+")), stage.ordered, stage.light

    return ray.get(describe.remote(factory))


def _check_resources(name: str, reserved: tuple[float, float], per_actor: tuple[float, float], actors: int) -> None:
    """Fail with a sentence, instead of waiting for ever, when the cluster cannot host a group's actors."""
    import ray

    total = ray.cluster_resources()
    for kind, used, each in (("CPU", reserved[0], per_actor[0]), ("GPU", reserved[1], per_actor[1])):
        have = total.get(kind, 0.0)
        if used + each * actors > have + 1e-9:
            raise ConfigError(
                f"stage {name!r} needs {actors} actors with {each:g} {kind} each, but the Ray cluster has {have:g} {kind} "
                f"and the other stages reserve {used:g}: use fewer workers or a smaller {kind} share per actor"
            )
