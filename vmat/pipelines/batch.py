"""``vmat batch``: the pipeline over an archive of clips, resumable, fault tolerant and stoppable.

Each clip runs :func:`vmat.pipeline.run.run_clip` into a hidden temporary folder that is renamed to the
clip's output folder only when complete, so an output folder is always a finished one. The job file
(:mod:`vmat.pipelines.job`) records every clip's state; a re-run skips the clips done from the same source file
(size and modification time), options, vmat version and shipped weights, redoes the rest and removes what
a killed run left unfinished.

Failures: an error the user can fix (a corrupt clip, a bad option: :class:`vmat.errors.VmatError`) fails
that clip at once, with its message recorded; anything else (a worker that died, an I/O hiccup) is
retried up to ``retries`` times. Either way the job goes on with the other clips.

SIGINT and SIGTERM stop the job within seconds (:mod:`vmat.pipelines.signals`): the clips being processed are
stopped mid-clip and their temporary outputs removed, unfinished clips are recorded as ``interrupted``,
the report is written, Ray is shut down, and :class:`~vmat.pipelines.signals.BatchInterrupted` is raised.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import vmat
from vmat.pipelines.clips import ClipJob, find_clips
from vmat.pipelines.cluster import ClusterConfig, ray_cluster
from vmat.pipelines.job import REPORT_FILE, ClipState, JobState, job_lock, remove_partials, write_json
from vmat.pipelines.runner import RayRunner, RayRunnerConfig
from vmat.pipelines.signals import BatchInterrupted, ClipInterrupted, ClipThreads, StopSignals
from vmat import weights
from vmat.errors import ConfigError, OutputError, VmatError
from vmat.io.atomic import atomic_output
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip
from vmat.pipeline.stage import StageRunner
from vmat.progress import progress

RunnerName = Literal["inprocess", "ray"]


@dataclass(frozen=True)
class BatchConfig:
    """How a batch job runs.

    - ``runner``: ``"ray"`` (stage actor pools; an embedded local cluster unless ``cluster.address``) or
      ``"inprocess"`` (one clip after another in this process, no Ray start-up).
    - ``retries``: extra attempts for a clip whose failure is not the input's fault.
    - ``clips_in_flight``: clips processed at once (default: ``ray.workers`` with Ray, 1 in process).
    - ``run``: the options every clip starts from; a manifest row overrides them per clip.
    """

    runner: RunnerName = "ray"
    retries: int = 2
    clips_in_flight: int | None = None
    run: RunConfig = field(default_factory=RunConfig)
    ray: RayRunnerConfig = field(default_factory=RayRunnerConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.runner not in ("inprocess", "ray"):
            raise ConfigError(f"runner must be 'inprocess' or 'ray', not {self.runner!r}")
        if self.retries < 0:
            raise ConfigError(f"retries cannot be negative, not {self.retries}")
        if self.clips_in_flight is not None and self.clips_in_flight < 1:
            raise ConfigError(f"clips in flight must be at least 1, not {self.clips_in_flight}")

    @property
    def parallel_clips(self) -> int:
        if self.clips_in_flight is not None:
            return self.clips_in_flight
        return self.ray.workers if self.runner == "ray" else 1


@dataclass
class BatchReport:
    """What a job run did: clips done / failed / skipped (done before), frames and time of this run.

    ``stage_seconds``: each stage's seconds over the clips done (with Ray, timed in the actors and summed over
    them: work, not elapsed time). ``moved``: with Ray, the bytes of records handed through the object store,
    by the call that sent them (:meth:`~vmat.pipelines.runner.RayRunner.moved`; retried clips included).
    """

    done: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0
    frames: int = 0
    seconds: float = 0.0
    runner: str = ""
    stopped_by: str | None = None
    clips: list[dict[str, Any]] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "interrupted": self.interrupted,
            "stopped_by": self.stopped_by,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.frames_per_second, 3),
            "runner": self.runner,
            "stage_ms_per_frame": {name: round(ms, 2) for name, ms in self.stage_ms_per_frame().items()},
            "object_store_bytes_per_frame": {sender: round(count / max(self.frames, 1)) for sender, count in self.moved.items()},
            "clips": self.clips,
        }

    def stage_ms_per_frame(self) -> dict[str, float]:
        return {name: 1000 * seconds / max(self.frames, 1) for name, seconds in self.stage_seconds.items()}

    def describe(self) -> str:
        lines = [f"{clip['key']}: failed ({clip['error']})" for clip in self.clips if clip["state"] == "failed"]
        interrupted = f", {self.interrupted} interrupted" if self.interrupted else ""
        lines.append(
            f"{self.done} done, {self.failed} failed{interrupted}, {self.skipped} skipped; {self.frames} frames in "
            f"{self.seconds:.1f} s ({self.frames_per_second:.2f} frames/s)"
        )
        if self.stage_seconds:
            stages = ", ".join(f"{name} {ms:.1f}" for name, ms in self.stage_ms_per_frame().items())
            lines.append(f"ms per frame: {stages}")
        if self.moved:
            frames = max(self.frames, 1)
            hops = ", ".join(f"{sender} {count / frames / 1e6:.2f}" for sender, count in self.moved.items())
            lines.append(f"object store: {sum(self.moved.values()) / frames / 1e6:.2f} MB per frame (sent by {hops})")
        return "\n".join(lines)

    def add(self, clip: dict[str, Any]) -> None:
        """Count a clip this run worked on."""
        self.clips.append(clip)
        if clip["state"] == "done":
            self.done += 1
            self.frames += clip["frames"]
            for name, seconds in clip["stage_seconds"].items():
                self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + seconds
        elif clip["state"] == "failed":
            self.failed += 1
        else:
            self.interrupted += 1


# How long stopped clips have to unwind before the job is cleaned up without them.
STOP_SECONDS = 20.0


def run_batch(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    config: BatchConfig = BatchConfig(),
    *,
    manifest: str | os.PathLike[str] | None = None,
    runner: StageRunner | None = None,
) -> BatchReport:
    """Process every clip of ``source`` (see :func:`vmat.pipelines.clips.find_clips`) into ``output_dir``.

    Writes the job file as it goes and ``vmat-batch-report.json`` at the end; returns the report. A given
    ``runner`` is used as is (Ray already running); otherwise ``config.runner`` picks one. Called from the
    main thread, SIGINT and SIGTERM stop the job (see the module docstring) and raise
    :class:`~vmat.pipelines.signals.BatchInterrupted` carrying the report.
    """
    started = time.perf_counter()
    output = Path(output_dir)
    with StopSignals():
        # An output folder inside the input folder must not have its own outputs taken for clips on a re-run.
        jobs = [job for job in find_clips(source, manifest) if not job.source.resolve().is_relative_to(output.resolve())]
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"cannot create output folder {str(output)!r}: {error.strerror}") from None
        with job_lock(output):
            remove_partials(output)
            state = JobState(output)
            report = BatchReport(runner=config.runner if runner is None else type(runner).__name__)
            todo: list[ClipJob] = []
            threads = ClipThreads()
            try:
                todo.extend(_plan(jobs, output, state, config, report))
                with ExitStack() as stack:
                    if todo and runner is None and config.runner == "ray":
                        stack.enter_context(ray_cluster(config.cluster))
                        runner = RayRunner(config.ray)
                        stack.callback(runner.close)
                    moved_before = runner.moved() if isinstance(runner, RayRunner) else {}
                    work = functools.partial(_run_one, output=output, state=state, runner=runner, config=config, threads=threads)
                    # Closed before the runner and Ray: the clips stop first, however the loop ends.
                    records = stack.enter_context(closing(_run_clips(todo, work, config.parallel_clips, threads)))
                    for clip in progress(records, total=len(todo), desc="clips", unit="clip"):
                        report.add(clip)
                        if config.verbose:
                            print(
                                f"{clip['key']}: {clip['state']}" + (f" ({clip['error']})" if clip.get("error") else ""),
                                file=sys.stderr,
                            )
                    if isinstance(runner, RayRunner):
                        report.moved = {
                            sender: count - moved_before.get(sender, 0) for sender, count in runner.moved().items()
                        }
            except BatchInterrupted as interrupted:
                # The clips are stopped (_run_clips) and Ray is shut down (the stack): record what did not finish.
                reported = {clip["key"] for clip in report.clips}
                for job in todo:
                    if job.key not in reported:
                        if state.clips[job.key].state in ("pending", "running"):
                            state.update(job.key, state="interrupted")
                        report.add(_record(job.key, state.clips[job.key]))
                remove_partials(output)
                report.stopped_by = interrupted.name
                interrupted.report = _write_report(output, report, started)
                raise
            return _write_report(output, report, started)


def _plan(jobs: list[ClipJob], output: Path, state: JobState, config: BatchConfig, report: BatchReport) -> Iterator[ClipJob]:
    """The clips to run, each recorded as pending: all but those done before from the same source and
    options (counted as skipped)."""
    for job in jobs:
        fingerprint = _fingerprint(job, config.run)
        folder = output / job.key
        if state.is_done(job.key, fingerprint) and folder.is_dir() and not folder.is_symlink():
            report.skipped += 1
            report.clips.append({"key": job.key, "state": "skipped"})
        else:
            state.update(job.key, source=str(job.source), fingerprint=fingerprint, state="pending", error=None)
            yield job


def _write_report(output: Path, report: BatchReport, started: float) -> BatchReport:
    report.clips.sort(key=lambda clip: clip["key"])
    report.seconds = time.perf_counter() - started
    write_json(output / REPORT_FILE, report.to_dict())
    return report


def _run_clips(
    todo: list[ClipJob], work: Callable[[ClipJob], dict[str, Any]], parallel: int, threads: ClipThreads
) -> Generator[dict[str, Any], None, None]:
    """Run ``work`` on every clip on ``parallel`` threads; yield each clip's record as it finishes.

    However the caller stops (an exception in the main thread, such as a signal's, or closing this
    generator), the clips still running are stopped and given ``STOP_SECONDS`` to unwind. The threads are
    daemons, so one stuck in a call that never returns cannot keep the process alive.
    """
    waiting: queue.SimpleQueue[ClipJob] = queue.SimpleQueue()
    for job in todo:
        waiting.put(job)
    finished: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def clip_thread() -> None:
        try:
            while not threads.stopped:
                try:
                    job = waiting.get_nowait()
                except queue.Empty:
                    return
                finished.put(work(job))
        except ClipInterrupted:  # it landed between two clips
            pass

    pool = [threading.Thread(target=clip_thread, name=f"vmat-clip-{n}", daemon=True) for n in range(min(parallel, len(todo)))]
    for thread in pool:
        thread.start()
    try:
        for _ in todo:
            while True:
                try:
                    yield finished.get(timeout=1.0)
                    break
                except queue.Empty:
                    if not any(thread.is_alive() for thread in pool):
                        return
    finally:
        threads.interrupt()
        deadline = time.monotonic() + STOP_SECONDS
        for thread in pool:
            thread.join(max(deadline - time.monotonic(), 0.0))


def _run_one(
    job: ClipJob, *, output: Path, state: JobState, runner: StageRunner | None, config: BatchConfig, threads: ClipThreads
) -> dict[str, Any]:
    """Run one clip with bounded retries; never raises for the clip's own failure (it is recorded)."""
    attempts = state.clips[job.key].attempts
    retries_left = config.retries
    while True:
        if threads.stopped:
            return _finish(state, job, "interrupted", attempts)
        attempts += 1
        state.update(job.key, state="running", attempts=attempts, error=None)
        started = time.perf_counter()
        try:
            # The clip can be stopped only inside threads.running(), never while its output is being committed.
            with atomic_output(_clip_folder(output, job.key), is_dir=True) as folder, threads.running():
                summary = run_clip(job.source, folder, job.config(config.run), runner=runner)
        except ClipInterrupted:
            return _finish(state, job, "interrupted", attempts)
        except VmatError as error:
            return _finish(state, job, "failed", attempts, error=str(error))
        except Exception as error:  # noqa: BLE001 - anything else may be transient: retry, then record it
            if threads.stopped:  # e.g. the Ray workers went down with the job
                return _finish(state, job, "interrupted", attempts)
            if retries_left == 0:
                return _finish(state, job, "failed", attempts, error=f"{type(error).__name__}: {error}")
            time.sleep(min(0.5 * 2 ** (config.retries - retries_left), 5.0))
            retries_left -= 1
            continue
        return _finish(
            state, job, "done", attempts, frames=summary.frames, seconds=time.perf_counter() - started,
            stage_seconds=summary.stage_seconds,
        )


def _clip_folder(output: Path, key: str) -> Path:
    """``output / key``, its parent folders made; refuses a path through a symbolic link, which could lead
    out of the output folder (``key`` itself never holds ``..``: :func:`vmat.pipelines.clips.safe_key`)."""
    folder = output
    for part in key.split("/"):
        folder = folder / part
        if folder.is_symlink():
            raise OutputError(
                f"the output folder {key!r} goes through the symbolic link {str(folder)!r}: vmat does not write through links"
            )
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {str(folder.parent)!r}: {error.strerror}") from None
    return folder


def _finish(
    state: JobState,
    job: ClipJob,
    outcome: str,
    attempts: int,
    *,
    error: str | None = None,
    frames: int = 0,
    seconds: float = 0.0,
    stage_seconds: dict[str, float] | None = None,
) -> dict[str, Any]:
    stages = {name: round(value, 4) for name, value in (stage_seconds or {}).items()}
    return _record(
        job.key,
        state.update(
            job.key, state=outcome, attempts=attempts, error=error, frames=frames, seconds=round(seconds, 3), stage_seconds=stages
        ),
    )


def _record(key: str, clip: ClipState) -> dict[str, Any]:
    """A clip's entry in the report."""
    return {
        "key": key,
        "source": clip.source,
        "state": clip.state,
        "error": clip.error,
        "attempts": clip.attempts,
        "frames": clip.frames,
        "seconds": clip.seconds,
        "stage_seconds": clip.stage_seconds,
    }


def _fingerprint(job: ClipJob, base: RunConfig) -> str:
    """Identifies a clip's work: its source file as it is now (size, modification time), every option it
    runs with and the files they name, and the vmat version and shipped weights that do the work."""
    try:
        config = job.config(base)
    except VmatError as error:  # the clip will fail with this error; any later fix changes the fingerprint
        described, named = f"invalid: {error}", []
    else:
        described, named = repr(config), _named_paths(config)
    stamps = [f"{path}={_stamp(Path(path))}" for path in named]
    parts = [vmat.__version__, _weights_digest(weights.FOLDER), str(job.source.resolve()), _stamp(job.source), described, *stamps]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _named_paths(config: RunConfig) -> list[str]:
    """The options' values that name an existing file or folder (checkpoints, masks, a background image)."""
    values = [getattr(config, item.name) for item in dataclasses.fields(RunConfig)]
    values += [getattr(config.edit, item.name) for item in dataclasses.fields(EditSpec)]
    return [value for value in values if isinstance(value, str) and os.path.exists(value)]


def _stamp(path: Path) -> str:
    """Size and modification time of a file, or of every entry of a folder (a masks folder); "" when absent."""
    try:
        if path.is_dir():
            entries = sorted(os.scandir(path), key=lambda entry: entry.name)
            return hashlib.sha256("".join(f"{entry.name}:{_stamp(Path(entry.path))};" for entry in entries).encode()).hexdigest()
        status = path.stat()
    except OSError:
        return ""
    return f"{status.st_size}:{status.st_mtime_ns}"


@functools.cache
def _weights_digest(folder: Path) -> str:
    """A hash of every shipped weights file (read once per process)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            digest.update(f"{path.relative_to(folder).as_posix()}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
