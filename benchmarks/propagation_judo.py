"""Round trip of the weight-free mask propagation on judo, and its automatic fallback on the real clips.

    python benchmarks/propagation_judo.py [--shared ../shared] [--out /tmp/prop_bench]

Propagation from frame 0's ground truth, scored as DAVIS does, with its speed and the baselines, is
``vmat bench masks`` (real sequences with a mask on every frame, or ``--synthetic SUITE``). This script
keeps what needs data that command cannot score:

1. Judo (real, ../shared/data/judo): its masks label each object on one frame only (fighters on frame 0,
   a new spectator on each of frames 5, 8, 13), so no object has ground truth on a second frame and
   "J&F after propagating from frame 0" cannot be measured on it. What is measured instead is the
   round trip: each object is propagated from its annotated frame to the last frame and back, and the
   result is scored against its own annotation (cycle J&F; it punishes drift in both directions).
2. Overlays of the automatic fallback on the first frames of ../shared/data/clips/*.mp4, written as PNGs.

J&F comes from vmat.metrics.segmentation (DAVIS definitions).
"""

from __future__ import annotations

import argparse
import statistics
from itertools import islice
from pathlib import Path

import cv2
import numpy as np

from vmat.metrics.segmentation import j_and_f
from vmat.propagation import FlowPropagator, FlowPropagatorConfig, colourize, mask_clip, read_id_mask, video_frames


CONFIG = FlowPropagatorConfig()


def mean_jf(scores: dict[int, tuple[float, float]]) -> tuple[float, float]:
    values = list(scores.values())
    return statistics.fmean(j for j, _ in values), statistics.fmean(f for _, f in values)


def fit(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pad or crop a ground-truth mask to the frame size (judo's frame-5 mask is one column short)."""
    out = np.zeros(shape, mask.dtype)
    h, w = min(shape[0], mask.shape[0]), min(shape[1], mask.shape[1])
    out[:h, :w] = mask[:h, :w]
    return out


def judo_cycle(judo: Path, out: Path) -> dict[int, tuple[float, float]]:
    frames = [cv2.imread(str(p))[..., ::-1].copy() for p in sorted((judo / "frames").glob("*.jpg"))]
    results = {}
    for mask_file in sorted((judo / "masks").glob("*.png")):
        start = int(mask_file.stem)
        gt = fit(read_id_mask(mask_file), frames[0].shape[:2])
        propagator = FlowPropagator(CONFIG)
        state = propagator.start(frames[start], gt)
        for index in range(start + 1, len(frames)):
            ids, state = propagator.step(frames[index], state)
        cv2.imwrite(str(out / f"judo_from{start:02d}_at{len(frames) - 1}.png"), colourize(frames[-1], ids)[..., ::-1])
        state = propagator.start(frames[-1], ids)
        for index in range(len(frames) - 2, start - 1, -1):
            ids, state = propagator.step(frames[index], state)
        for k, score in j_and_f(ids, gt).items():
            results[k] = score
    return results


def clips(shared: Path, out: Path, frames: int) -> None:
    for clip in sorted((shared / "data" / "clips").glob("*.mp4")):
        source = video_frames(clip)

        def head(source=source):
            return islice(source(), frames)

        folder = out / clip.stem
        summary = mask_clip(head, folder, propagator=FlowPropagator(CONFIG))
        last = frames - 1
        image = next(islice(source(), last, None))
        overlay = colourize(image, read_id_mask(folder / f"{last:05d}.png"))
        cv2.imwrite(str(out / f"{clip.stem}_auto_{last:05d}.png"), overlay[..., ::-1])
        print(f"  {clip.name}: automatic ids {summary.ids}, {summary.propagation_fps:.1f} frames/s incl. PNG writing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared")
    parser.add_argument("--out", type=Path, default=Path("/tmp/prop_bench"))
    parser.add_argument("--clip-frames", type=int, default=30)
    parser.add_argument("--work-short-side", type=int, default=CONFIG.work_short_side)
    args = parser.parse_args()
    CONFIG.work_short_side = args.work_short_side
    args.out.mkdir(parents=True, exist_ok=True)
    cv2.setNumThreads(2)

    judo = args.shared / "data" / "judo"
    if judo.is_dir():
        print("judo round trip (annotated frame -> frame 15 -> annotated frame; a mask that never moves would score 100):")
        scores = judo_cycle(judo, args.out)
        for k, (j, f) in scores.items():
            print(f"  object {k}  J {100 * j:5.1f}  F {100 * f:5.1f}  J&F {50 * (j + f):5.1f}")
        j, f = mean_jf(scores)
        print(f"  mean      J {100 * j:5.1f}  F {100 * f:5.1f}  J&F {50 * (j + f):5.1f}")
    if (args.shared / "data" / "clips").is_dir() and args.clip_frames > 0:
        print(f"automatic fallback on the first {args.clip_frames} frames of the real clips (overlays in {args.out}):")
        clips(args.shared, args.out, args.clip_frames)


if __name__ == "__main__":
    main()
