"""Frames/s of a batch job with the in-process runner and with the Ray runner at several worker counts.

    OMP_NUM_THREADS=1 python benchmarks/ray_runner.py --clips 4 --size 256x160 --frames 12 --workers 1 2

Generates ``--clips`` synthetic scenes (with their true id masks), runs the whole batch job on them in
process, then on an embedded local Ray cluster once per worker count (``clips_in_flight`` = workers),
and prints a table: frames/s end to end, and the Ray overhead as in-process frames/s over Ray frames/s.
Ray's start-up and the actors' first stage builds are left out (one warm-up clip before each timed run,
the in-process one included), as a long job pays them once. Each Ray run's layers are checked equal to
the in-process ones. Ray gives each actor one thread (OMP_NUM_THREADS=1 for a fractional CPU share);
run the benchmark with OMP_NUM_THREADS=1 so that the driver, which runs the in-process stages and every
second pass, uses one thread too and the comparison is like for like.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vmat.pipelines.batch import BatchConfig, run_batch
from vmat.pipelines.cluster import ClusterConfig, ray_cluster
from vmat.pipelines.runner import RayRunner, RayRunnerConfig
from vmat.io import VideoWriter
from vmat.progress import set_progress
from vmat.propagation.idmask import mask_path, write_id_mask
from vmat.synthetic import SceneConfig, SyntheticScene


def write_scene(path: Path, width: int, height: int, frames: int, seed: int) -> None:
    """A synthetic clip and its true id masks in ``<stem>.masks/`` (what ``vmat batch`` looks for)."""
    masks = path.with_suffix(".masks")
    masks.mkdir(parents=True)
    scene = SyntheticScene(SceneConfig(level="medium", width=width, height=height, num_frames=frames, seed=seed))
    with VideoWriter(path, fps=24) as writer:
        for index, frame in enumerate(scene.frames()):
            writer.write(frame.image)
            write_id_mask(mask_path(masks, index), frame.id_map)


def layers_equal(first: Path, second: Path) -> bool:
    files = sorted(path.relative_to(first) for path in first.rglob("*.npz"))
    if files != sorted(path.relative_to(second) for path in second.rglob("*.npz")):
        return False
    for name in files:
        with np.load(first / name) as a, np.load(second / name) as b:
            if a.files != b.files or any(not np.array_equal(a[key], b[key]) for key in a.files):
                return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--size", default="256x160", help="clip size WxH (default 256x160)")
    parser.add_argument("--frames", type=int, default=16, help="frames per clip (default 16)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts to time (default 1 2)")
    parser.add_argument("--num-gpus", type=float, default=0.0, help="GPU share per actor")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.lower().split("x"))
    set_progress(False)

    rows = []
    with tempfile.TemporaryDirectory(prefix="vmat-bench-ray-") as folder:
        root = Path(folder)
        for seed in range(args.clips):
            write_scene(root / "clips" / f"clip{seed}.mp4", width, height, args.frames, seed)
        write_scene(root / "warmup" / "warmup.mp4", width, height, 2, 999)

        run_batch(root / "warmup", root / "warmup-inprocess", BatchConfig(runner="inprocess"))
        report = run_batch(root / "clips", root / "inprocess", BatchConfig(runner="inprocess"))
        rows.append({"runner": "in-process", "workers": 1, "frames": report.frames, "seconds": report.seconds, "same": True})

        started = time.perf_counter()
        with ray_cluster(ClusterConfig(num_cpus=os.cpu_count(), log_to_driver=False)):
            startup = time.perf_counter() - started
            for workers in args.workers:
                runner = RayRunner(RayRunnerConfig(workers=workers, num_gpus=args.num_gpus))
                config = BatchConfig(runner="ray", clips_in_flight=workers)
                try:
                    run_batch(root / "warmup", root / f"warmup-{workers}", config, runner=runner)
                    report = run_batch(root / "clips", root / f"ray-{workers}", config, runner=runner)
                finally:
                    runner.close()
                same = layers_equal(root / "inprocess", root / f"ray-{workers}")
                rows.append(
                    {"runner": "ray", "workers": workers, "frames": report.frames, "seconds": report.seconds, "same": same}
                )

    base = rows[0]["frames"] / rows[0]["seconds"]
    print(
        f"{args.clips} clips x {args.frames} frames, {width}x{height}, {os.cpu_count()} CPUs, driver torch threads "
        f"{torch.get_num_threads()}; Ray start-up {startup:.1f} s (not included)"
    )
    print("| runner | workers | frames | seconds | frames/s | in-process / this | layers equal to in-process |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        row["frames_per_second"] = row["frames"] / row["seconds"]
        row["overhead"] = base / row["frames_per_second"]
        print(
            f"| {row['runner']} | {row['workers']} | {row['frames']} | {row['seconds']:.2f} | {row['frames_per_second']:.2f} "
            f"| {row['overhead']:.2f} | {'yes' if row['same'] else 'NO'} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"ray_startup_seconds": startup, "rows": rows}, indent=2) + "\n")
    return 0 if all(row["same"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
