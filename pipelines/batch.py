"""``vmat batch``: the pipeline over an archive of clips, resumable and fault tolerant.

Each clip runs :func:`vmat.pipeline.run.run_clip` into a hidden temporary folder that is renamed to the
clip's output folder only when complete, so an output folder is always a finished one. The job file
(:mod:`pipelines.job`) records every clip's state; a re-run skips the clips done with the same options,
redoes the rest and removes what a killed run left unfinished.

Failures: an error the user can fix (a corrupt clip, a bad option: :class:`vmat.errors.VmatError`) fails
that clip at once, with its message recorded; anything else (a worker that died, an I/O hiccup) is
retried up to ``retries`` times. Either way the job goes on with the other clips.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pipelines.clips import ClipJob, find_clips
from pipelines.cluster import ClusterConfig, ray_cluster
from pipelines.job import REPORT_FILE, JobState, job_lock, remove_partials, write_json
from pipelines.runner import RayRunner, RayRunnerConfig
from vmat.errors import ConfigError, OutputError, VmatError
from vmat.io.atomic import atomic_output
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
    """What a job run did: clips done / failed / skipped (done before), frames and time of this run."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    frames: int = 0
    seconds: float = 0.0
    runner: str = ""
    clips: list[dict[str, Any]] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "failed": self.failed,
            "skipped": self.skipped,
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "frames_per_second": round(self.frames_per_second, 3),
            "runner": self.runner,
            "clips": self.clips,
        }

    def describe(self) -> str:
        lines = [f"{clip['key']}: failed ({clip['error']})" for clip in self.clips if clip["state"] == "failed"]
        lines.append(
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped; {self.frames} frames in "
            f"{self.seconds:.1f} s ({self.frames_per_second:.2f} frames/s)"
        )
        return "\n".join(lines)


def run_batch(
    source: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    config: BatchConfig = BatchConfig(),
    *,
    manifest: str | os.PathLike[str] | None = None,
    runner: StageRunner | None = None,
) -> BatchReport:
    """Process every clip of ``source`` (see :func:`pipelines.clips.find_clips`) into ``output_dir``.

    Writes the job file as it goes and ``vmat-batch-report.json`` at the end; returns the report. A given
    ``runner`` is used as is (Ray already running); otherwise ``config.runner`` picks one.
    """
    started = time.perf_counter()
    output = Path(output_dir)
    # An output folder inside the input folder must not have its own outputs taken for clips on a re-run.
    jobs = [job for job in find_clips(source, manifest) if not job.source.resolve().is_relative_to(output.resolve())]
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(output)!r}: {error.strerror}") from None
    with job_lock(output), ExitStack() as stack:
        remove_partials(output)
        state = JobState(output)
        report = BatchReport(runner=config.runner if runner is None else type(runner).__name__)
        todo = []
        for job in jobs:
            fingerprint = _fingerprint(job, config.run)
            if state.is_done(job.key, fingerprint) and (output / job.key).is_dir():
                report.skipped += 1
                report.clips.append({"key": job.key, "state": "skipped"})
            else:
                state.update(job.key, source=str(job.source), fingerprint=fingerprint, state="pending", error=None)
                todo.append(job)
        if todo and runner is None and config.runner == "ray":
            stack.enter_context(ray_cluster(config.cluster))
            runner = RayRunner(config.ray)
            stack.callback(runner.close)
        with ThreadPoolExecutor(max_workers=config.parallel_clips, thread_name_prefix="vmat-clip") as pool:
            futures = [pool.submit(_run_one, job, output, state, runner, config) for job in todo]
            for future in progress(as_completed(futures), total=len(futures), desc="clips", unit="clip"):
                clip = future.result()
                report.clips.append(clip)
                if clip["state"] == "done":
                    report.done += 1
                    report.frames += clip["frames"]
                else:
                    report.failed += 1
                if config.verbose:
                    print(f"{clip['key']}: {clip['state']}" + (f" ({clip['error']})" if clip.get("error") else ""), file=sys.stderr)
        report.clips.sort(key=lambda clip: clip["key"])
        report.seconds = time.perf_counter() - started
        write_json(output / REPORT_FILE, report.to_dict())
    return report


def _run_one(job: ClipJob, output: Path, state: JobState, runner: StageRunner | None, config: BatchConfig) -> dict[str, Any]:
    """Run one clip with bounded retries; never raises for the clip's own failure (it is recorded)."""
    attempts = state.clips[job.key].attempts
    retries_left = config.retries
    while True:
        attempts += 1
        state.update(job.key, state="running", attempts=attempts, error=None)
        started = time.perf_counter()
        try:
            target = output / job.key
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(target, is_dir=True) as folder:
                summary = run_clip(job.source, folder, job.config(config.run), runner=runner)
        except VmatError as error:
            return _finish(state, job, "failed", attempts, error=str(error))
        except Exception as error:  # noqa: BLE001 - anything else may be transient: retry, then record it
            if retries_left == 0:
                return _finish(state, job, "failed", attempts, error=f"{type(error).__name__}: {error}")
            time.sleep(min(0.5 * 2 ** (config.retries - retries_left), 5.0))
            retries_left -= 1
            continue
        return _finish(state, job, "done", attempts, frames=summary.frames, seconds=time.perf_counter() - started)


def _finish(state: JobState, job: ClipJob, outcome: str, attempts: int, *, error: str | None = None, frames: int = 0, seconds: float = 0.0) -> dict[str, Any]:
    state.update(job.key, state=outcome, error=error, frames=frames, seconds=round(seconds, 3))
    return {"key": job.key, "source": str(job.source), "state": outcome, "error": error, "attempts": attempts, "frames": frames, "seconds": round(seconds, 3)}


def _fingerprint(job: ClipJob, base: RunConfig) -> str:
    """Identifies a clip's work: its source and every option it runs with."""
    try:
        described = repr(job.config(base))
    except VmatError as error:  # the clip will fail with this error; any later fix changes the fingerprint
        described = f"invalid: {error}"
    return hashlib.sha1(f"{job.source.resolve()}\n{described}".encode()).hexdigest()[:16]
