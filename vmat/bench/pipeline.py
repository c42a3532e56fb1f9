"""``vmat bench pipeline``: the whole pipeline's speed and peak memory, next to the raw decode+encode loop.

Each configuration (every ``--config`` file at every size) runs ``vmat run`` in a child process of its own, so
the peak resident memory reported (``ru_maxrss`` of that child, plus its pipeline's second process's) is the
pipeline's alone; the raw loop
(:func:`vmat.bench.io.plain_pyav_passthrough`) runs in this process first, as the floor no pipeline can beat.
``--frames`` loops the clip (re-encoded, lossless-ish) to a given length, which is how memory is shown flat in clip length.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

from vmat.bench.io import plain_pyav_passthrough
from vmat.errors import ConfigError, VmatError
from vmat.io import VideoWriter, open_video, probe
from vmat.pipeline.run import RunConfig, RunSummary, run_clip


@dataclass
class PipelineRun:
    name: str
    frames: int
    seconds: float
    peak_rss_mb: float
    stage_ms: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0  # user + system CPU of the run's processes (the pipeline's second process included)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    @property
    def cores_busy(self) -> float:
        """CPU time over wall time: how many cores the run kept busy on average (2 at most on two cores)."""
        return self.cpu_seconds / self.seconds


def loop_clip(source: str | os.PathLike[str], output: Path, frames: int) -> Path:
    """``source`` repeated until it is ``frames`` long (video only, near-lossless H.264)."""
    with VideoWriter(output, fps=probe(source).frame_rate, crf=12) as writer:
        written = 0
        while written < frames:
            with open_video(source) as reader:
                for frame in reader:
                    writer.write(frame.image)
                    written += 1
                    if written == frames:
                        break
    return output


def _child(clip: str, output: str, config: RunConfig, queue: multiprocessing.Queue) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    before = usage.ru_utime + usage.ru_stime  # this process's start-up (imports) is not the run's
    try:
        summary: RunSummary = run_clip(clip, output, config)
    except VmatError as error:  # the user's mistake (a bad prompt, say): one line in the parent, no traceback
        queue.put(str(error))
        return
    # The second process is this one's child, ended and waited for by now.
    cpu = sum(
        usage.ru_utime + usage.ru_stime for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
    # The peak is this process's plus the second process's (each its own peak: an upper bound of the two at once).
    queue.put((summary.frames, summary.wall_seconds, summary.peak_rss_mb, dict(summary.stage_seconds), cpu - before))


def run_in_child(name: str, clip: str | os.PathLike[str], output: str | os.PathLike[str], config: RunConfig) -> PipelineRun:
    """Run the pipeline once in a fresh process and report its time and peak memory."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(str(clip), str(output), config, queue))
    process.start()
    # Poll, so that a child that dies without a word (killed, out of memory) ends the bench instead of hanging it.
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():
                raise VmatError(f"the pipeline run {name!r} stopped with exit status {process.exitcode}") from None
    process.join()
    if isinstance(result, str):
        raise ConfigError(f"{name}: {result}")
    frames, seconds, peak_mb, stage_seconds, cpu_seconds = result
    stage_ms = {stage: 1000 * value / max(frames, 1) for stage, value in stage_seconds.items()}
    return PipelineRun(name, frames, seconds, peak_mb, stage_ms, cpu_seconds)


def raw_loop_fps(clip: str | os.PathLike[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="vmat-bench-") as folder:
        start = time.perf_counter()
        frames = plain_pyav_passthrough(Path(clip), Path(folder) / "raw.mp4", crf=18, preset="veryfast")
        return frames / (time.perf_counter() - start)


def describe(clip: str, raw_fps: float, runs: list[PipelineRun]) -> str:
    stages = list(dict.fromkeys(stage for run in runs for stage in run.stage_ms))
    header = [
        "configuration", "frames", "frames/s", "x raw loop", "peak RSS MB", "CPU ms/frame", "cores busy",
        *[f"{s} ms" for s in stages],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.append(f"| raw decode+encode loop | | {raw_fps:.1f} | 1.000 | | | | " + " | ".join("" for _ in stages) + " |")
    for run in runs:
        cells = [run.name, str(run.frames), f"{run.fps:.2f}", f"{run.fps / raw_fps:.3f}", f"{run.peak_rss_mb:.0f}"]
        cells += [f"{1000 * run.cpu_seconds / max(run.frames, 1):.0f}", f"{run.cores_busy:.2f}"]
        cells += [f"{run.stage_ms[s]:.1f}" if s in run.stage_ms else "-" for s in stages]
        lines.append("| " + " | ".join(cells) + " |")
    return f"clip {clip}\n" + "\n".join(lines)
