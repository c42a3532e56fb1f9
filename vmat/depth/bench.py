"""Frames per second of the depth stages on synthetic frames: ``vmat bench depth``.

Depth-Anything-V2 is timed with its constructor's weights (the run time does not depend on the values),
so no checkpoint is needed. Only the stage itself is timed: frames are made before the clock starts.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from vmat.depth.base import DepthEstimator, resolve_device
from vmat.depth.depth_anything_v2 import DepthAnythingV2, DepthAnythingV2Config, DepthAnythingV2Estimator
from vmat.depth.ground_plane import GroundPlaneDepth
from vmat.depth.stabilize import DepthStabilizer


@dataclass
class DepthBenchResult:
    estimator: str
    width: int
    height: int
    batch_size: int
    frames: int
    repeats: int
    device: str
    threads: int
    estimator_fps: float
    stabilizer_fps: float

    def describe(self) -> str:
        return (
            f"{self.estimator} at {self.width}x{self.height}, batch {self.batch_size}, {self.frames} frames, "
            f"{self.device} ({self.threads} threads), median of {self.repeats} runs: {self.estimator_fps:.2f} frames/s; "
            f"stabiliser alone {self.stabilizer_fps:.1f} frames/s"
        )


def _timed_fps(run, frames: int, device: torch.device, repeats: int) -> float:
    """Median frames/s of ``repeats`` calls of ``run`` (the machine is shared, so single runs are noisy)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds.append(time.perf_counter() - start)
    return frames / statistics.median(seconds)


def bench_depth(
    estimator: str = "ground-plane",
    *,
    width: int = 1280,
    height: int = 720,
    frames: int = 8,
    batch_size: int = 4,
    input_size: int = 518,
    repeats: int = 3,
    device: str | None = None,
) -> DepthBenchResult:
    """Time ``estimator`` ("ground-plane" or "dav2-small") and the stabiliser on random frames with masks."""
    torch.manual_seed(0)
    dev = resolve_device(device) if estimator == "dav2-small" else torch.device(device or "cpu")
    stage: DepthEstimator
    if estimator == "dav2-small":
        stage = DepthAnythingV2Estimator(DepthAnythingV2().eval().to(dev), DepthAnythingV2Config(input_size=input_size))
    else:
        stage = GroundPlaneDepth(device=dev)
    sizes = [min(batch_size, frames - i) for i in range(0, frames, batch_size)]
    batches = [(torch.rand(n, 3, height, width), torch.zeros(n, height, width, dtype=torch.long)) for n in sizes]
    for _, masks in batches:
        masks[:, height // 3 : height - height // 8, width // 4 : width // 3] = 1
    stage(batches[0][0][:1], batches[0][1][:1])  # warm-up: allocations, kernel selection

    depths: list[torch.Tensor] = []

    def run_stage() -> None:
        with torch.inference_mode():
            depths[:] = [stage(images, masks) for images, masks in batches]

    def run_stabilizer() -> None:
        stabilizer, state = DepthStabilizer(), None
        for depth, (_, masks) in zip(depths, batches):
            _, state = stabilizer(depth, state, masks)

    estimator_fps = _timed_fps(run_stage, frames, dev, repeats)
    stabilizer_fps = _timed_fps(run_stabilizer, frames, torch.device("cpu"), repeats)
    return DepthBenchResult(
        estimator, width, height, batch_size, frames, repeats, str(dev), torch.get_num_threads(), estimator_fps, stabilizer_fps
    )
