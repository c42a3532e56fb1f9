"""The Ray runner: a clip's stages on pools of Ray actors, with the records back in frame order.

Each stage of the chain gets a pool of :class:`StageWorker` actors. A worker builds its stage from the
factory it is sent (so a model loads on the worker's device) and keeps it for the next clips.

- A stage with ``ordered = False`` runs on ``workers`` actors; consecutive batches go to them in turn, and
  each batch is a call of its own (``start_clip``, ``process``, ``finish_clip``), as the stage treats
  every frame on its own.
- An ordered stage (propagation, temporal smoothing) needs one instance to see a whole clip in order, so
  its pool holds ``workers`` *lanes*: a clip leases one lane for its duration, and Ray runs one caller's
  calls on one actor in submission order. Several clips run at once when there are several lanes.

Batches flow actor to actor through the object store; the driver keeps at most ``max_in_flight``
batches of a clip in the chain and waits for the oldest before reading more frames (backpressure), so
memory stays flat and frames never pile up in the object store.

A pooled actor that dies is restarted by Ray and its batches are redone (``max_restarts``,
``task_retries``). An ordered lane that dies loses the clip's state, so the clip cannot go on: the run
raises :class:`WorkerLostError`, the lane is restarted for the next clip, and a batch job redoes the clip.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial

from vmat.errors import ConfigError, VmatError
from vmat.io.metadata import VideoInfo
from vmat.pipeline.record import FrameRecord
from vmat.pipeline.stage import Stage, StageFactory, batched


_WAIT_SLICE_SECONDS = 0.5


class WorkerLostError(RuntimeError):
    """A worker holding a clip's ordered state died; the clip must be run again (a transient failure)."""


@dataclass(frozen=True)
class RayRunnerConfig:
    """How the stages are spread over actors.

    - ``workers``: actors per pooled stage, and lanes (clips at once) per ordered stage.
    - ``num_cpus`` / ``num_gpus``: Ray resources reserved per actor; fractions share a device (0.25 GPU:
      four actors on one GPU). ``stage_num_gpus`` overrides ``num_gpus`` by stage name (a GPU for the
      depth model, none for reading masks).
    - ``max_in_flight``: batches of one clip inside the chain at once (default ``2 * workers + 1``: every
      actor busy and one batch waiting for each).
    - ``max_restarts`` / ``task_retries``: how often a dead actor is restarted and a lost batch redone.
    """

    workers: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    stage_num_gpus: Mapping[str, float] = field(default_factory=dict)
    max_in_flight: int | None = None
    max_restarts: int = 3
    task_retries: int = 3

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


class StageWorker:
    """A Ray actor that runs one stage of the chain (see the module docstring).

    Built stages are cached by the factory's fingerprint: a model stage is built once per actor, while a
    stage whose factory changes with every clip (a clip's own mask folder) does not pile up.
    """

    cache_size = 4

    def __init__(self) -> None:
        self._stages: OrderedDict[str, Stage] = OrderedDict()
        self._clip: str | None = None
        self._stage: Stage | None = None

    def _build(self, key: str, factory: StageFactory) -> Stage:
        if key in self._stages:
            self._stages.move_to_end(key)
        else:
            self._stages[key] = factory()
            if len(self._stages) > self.cache_size:
                self._stages.popitem(last=False)
        return self._stages[key]

    def run_batch(self, key: str, factory: StageFactory, info: VideoInfo, batch: list[FrameRecord]) -> list[FrameRecord]:
        """A pooled stage on one batch, as a clip of its own."""
        stage = self._build(key, factory)
        stage.start_clip(info)
        done = stage.process(batch) if batch else []
        return done + stage.finish_clip()

    def start_clip(self, clip: str, key: str, factory: StageFactory, info: VideoInfo) -> None:
        self._stage = self._build(key, factory)
        self._clip = clip
        self._stage.start_clip(info)

    def process(self, clip: str, batch: list[FrameRecord]) -> list[FrameRecord]:
        return self._current(clip).process(batch) if batch else []

    def finish_clip(self, clip: str) -> list[FrameRecord]:
        done = self._current(clip).finish_clip()
        self._clip = None
        return done

    def _current(self, clip: str) -> Stage:
        if clip != self._clip or self._stage is None:
            # A restarted actor comes back without the clip's state.
            raise WorkerLostError(f"worker lost the state of clip {clip}")
        return self._stage


@dataclass(frozen=True)
class _StageSpec:
    key: str
    name: str
    ordered: bool
    factory: StageFactory


class _Pool:
    """The actors of one stage: handed out in turn (pooled) or leased one per clip (ordered lanes)."""

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
        self._lock = threading.Lock()

    def run(
        self, records: Iterable[FrameRecord], factories: list[StageFactory], info: VideoInfo, batch_size: int
    ) -> Iterator[FrameRecord]:
        specs = [_describe(factory) for factory in factories]
        pools = [self._pool(position, spec) for position, spec in enumerate(specs)]
        return self._run(records, specs, pools, info, batch_size)

    def actors(self) -> dict[str, list]:
        """The actors of every stage by stage name (for monitoring, and for tests that kill one)."""
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
        self, records: Iterable[FrameRecord], specs: list[_StageSpec], pools: list[_Pool], info: VideoInfo, batch_size: int
    ) -> Iterator[FrameRecord]:
        clip = uuid.uuid4().hex
        lanes = {position: pool.lease() for position, pool in enumerate(pools) if pool.ordered}
        try:
            # Waited for, so that a stage that cannot start (a bad option) reports its own error.
            starts = [lane.start_clip.remote(clip, specs[at].key, specs[at].factory, info) for at, lane in lanes.items()]
            for start in starts:
                _fetch(start)
            pending: deque = deque()
            for batch in batched(records, batch_size):
                pending.append(self._submit(batch, 0, clip, specs, pools, lanes, info))
                while len(pending) >= self.config.in_flight:
                    yield from _fetch(pending.popleft())
            for position, lane in lanes.items():
                # What an ordered stage held back still has to pass the stages after it.
                pending.append(self._submit(lane.finish_clip.remote(clip), position + 1, clip, specs, pools, lanes, info))
            while pending:
                yield from _fetch(pending.popleft())
        finally:
            for position, lane in lanes.items():
                pools[position].release(lane)

    def _submit(self, batch, start: int, clip: str, specs: list[_StageSpec], pools: list[_Pool], lanes: dict, info: VideoInfo):
        """Send ``batch`` (records or a reference to them) through the stages from ``start`` on; return the last reference."""
        for position in range(start, len(specs)):
            spec = specs[position]
            if spec.ordered:
                batch = lanes[position].process.remote(clip, batch)
            else:
                batch = pools[position].next().run_batch.remote(spec.key, spec.factory, info, batch)
        return batch

    def _pool(self, position: int, spec: _StageSpec) -> _Pool:
        import ray

        with self._lock:
            pool = self._pools.get((position, spec.name, spec.ordered))
            if pool is None:
                gpus = self.config.stage_num_gpus.get(spec.name, self.config.num_gpus)
                _check_resources(spec.name, self._reserved(), (self.config.num_cpus, gpus), self.config.workers)
                actor_class = ray.remote(StageWorker).options(
                    num_cpus=self.config.num_cpus,
                    num_gpus=gpus,
                    max_restarts=self.config.max_restarts,
                    # Retried on a restarted lane, a call of the clip it lost finds no state and fails the
                    # clip (StageWorker._current), while the next clip's calls succeed.
                    max_task_retries=self.config.task_retries,
                )
                actors = [actor_class.remote() for _ in range(self.config.workers)]
                pool = self._pools[(position, spec.name, spec.ordered)] = _Pool(actors, spec.ordered)
            return pool


    def _reserved(self) -> tuple[float, float]:
        """CPUs and GPUs the actors created so far reserve."""
        cpus = gpus = 0.0
        for (_, name, _), pool in self._pools.items():
            cpus += self.config.num_cpus * len(pool.actors)
            gpus += self.config.stage_num_gpus.get(name, self.config.num_gpus) * len(pool.actors)
        return cpus, gpus


def _fetch(reference) -> list[FrameRecord]:
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


def _describe(factory: StageFactory) -> _StageSpec:
    """Name, order needs and cache key of the stage ``factory`` builds, without building it here."""
    import ray.cloudpickle

    stage_class = _stage_class(factory)
    if stage_class is None:
        name, ordered = _describe_remotely(factory)
    else:
        name, ordered = stage_class.name, stage_class.ordered
    key = hashlib.sha1(ray.cloudpickle.dumps(factory)).hexdigest()
    return _StageSpec(key, name, ordered, factory)


def _stage_class(factory: StageFactory) -> type[Stage] | None:
    """The Stage class behind a class, a ``partial`` of one, or a classmethod such as ``DepthStage.build``."""
    target = factory
    while isinstance(target, partial):
        target = target.func
    if isinstance(target, type) and issubclass(target, Stage):
        return target
    owner = getattr(target, "__self__", None)
    if isinstance(owner, type) and issubclass(owner, Stage):
        return owner
    return None


def _describe_remotely(factory: StageFactory) -> tuple[str, bool]:
    """Build the stage once in a throwaway worker, so that no model is loaded in the driver."""
    import ray

    @ray.remote(num_cpus=0)
    def describe(factory: StageFactory) -> tuple[str, bool]:
        stage = factory()
        return stage.name, stage.ordered

    return ray.get(describe.remote(factory))


def _check_resources(name: str, reserved: tuple[float, float], per_actor: tuple[float, float], actors: int) -> None:
    """Fail with a sentence, instead of waiting for ever, when the cluster cannot host a stage's actors."""
    import ray

    total = ray.cluster_resources()
    for kind, used, each in (("CPU", reserved[0], per_actor[0]), ("GPU", reserved[1], per_actor[1])):
        have = total.get(kind, 0.0)
        if used + each * actors > have + 1e-9:
            raise ConfigError(
                f"stage {name!r} needs {actors} actors with {each:g} {kind} each, but the Ray cluster has {have:g} {kind} "
                f"and the other stages reserve {used:g}: use fewer workers or a smaller {kind} share per actor"
            )
