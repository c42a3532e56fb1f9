"""Run methods over synthetic clips and score every frame against its exact ground truth.

:func:`evaluate` streams each clip through a method (:mod:`vmat.evaluation.methods`), scores each
output as it arrives and keeps only running totals, grouped by difficulty level. What is scored:

- matting, MP-Mat matching (appendix F): SAD, MSE, MAD, Grad, Conn, SAD-O, SAD-NO, averaged over
  matched pairs (misses and false positives scored against zero maps);
- IMQ mad/mse/grad/conn (InstMatt eq. 16-18), from counts summed over the level;
- temporal: dtSSD and MESSDdt per instance and consecutive frame pair, by guidance identity; the flow-warping
  error (flow from the composite frames, occlusion-masked), and the same of the true alpha as its floor;
- masks: J and F (DAVIS) per visible instance and frame, on id maps taking each pixel's largest
  contribution (background weight ``1 - sum(alpha)``);
- editing (when the method returns edits): removal and occlusion-swap mean L1 %, mean L2 %, PSNR
  (per image, capped at 100 dB so one perfect frame cannot make the mean infinite);
- depth order (when the method returns instance depths): pairwise accuracy over visible instances;
- frames/s: frames divided by the time spent inside the method (loading and scoring excluded).

The guidance masks the methods get are set by ``guidance`` (:mod:`vmat.evaluation.guidance`): by default
frame 0's ground truth propagated by vmat's mask stage, not the exact outline of the answer.

Ground-truth instances that are fully hidden or out of frame in a frame are left out of that frame's
instance scores, and so are all-zero predictions.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from vmat.errors import ConfigError
from vmat.evaluation.guidance import DEFAULT_GUIDANCE, Guidance, clip_guidance, parse_guidance
from vmat.evaluation.methods import Method, MethodInput, MethodOutput
from vmat.metrics.depth_order import pairwise_order_counts
from vmat.metrics.editing import mean_l1, mean_l2, psnr
from vmat.metrics.instance import IMQCounts, score_instances
from vmat.metrics.segmentation import j_and_f
from vmat.metrics.temporal import dtssd, frame_warp_error, messddt, source_flows
from vmat.synthetic.scene import SyntheticFrame
from vmat.synthetic.storage import SyntheticClip

PSNR_CAP = 100.0
PAIR_METRICS = ("sad", "mse", "mad", "grad", "conn", "sad_occluded", "sad_non_occluded")


def id_map_from_alphas(alpha: np.ndarray, instance_ids: Sequence[int]) -> np.ndarray:
    """``(H, W)`` id map: the instance with the largest alpha where it beats the background weight ``1 - sum``."""
    alpha = np.asarray(alpha, np.float32)
    background = np.clip(1.0 - alpha.sum(0), 0.0, 1.0)
    winner = np.argmax(np.concatenate([background[None], alpha]), axis=0)
    return np.concatenate([[0], np.asarray(instance_ids)])[winner]


@dataclass
class _Mean:
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1

    @property
    def value(self) -> float:
        return self.total / self.count if self.count else float("nan")


@dataclass
class LevelTotals:
    """Running totals of one method on one level."""

    means: dict[str, _Mean] = field(default_factory=dict)
    imq: IMQCounts = field(default_factory=IMQCounts)
    depth_right: int = 0
    depth_counted: int = 0
    frames: int = 0
    clips: int = 0
    method_seconds: float = 0.0

    def add(self, name: str, value: float) -> None:
        self.means.setdefault(name, _Mean()).add(value)

    def result(self) -> dict[str, float]:
        out = {name: mean.value for name, mean in self.means.items()}
        out |= self.imq.scores()
        if "j" in out and "f" in out:
            out["j_and_f"] = (out["j"] + out["f"]) / 2
        out["depth_order_accuracy"] = self.depth_right / self.depth_counted if self.depth_counted else float("nan")
        out["frames"] = self.frames
        out["clips"] = self.clips
        out["fps"] = self.frames / self.method_seconds if self.method_seconds > 0 else float("nan")
        return out


def _check_output(output: MethodOutput, frame: SyntheticFrame) -> np.ndarray:
    alpha = np.asarray(output.alpha, np.float32)
    expected = (len(frame.instance_ids), *frame.image.shape[:2])
    if alpha.shape != expected:
        raise ConfigError(f"the method returned alphas of shape {alpha.shape} for frame {frame.index}, expected {expected}.")
    return np.clip(alpha, 0.0, 1.0)


def score_frame(
    totals: LevelTotals, frame: SyntheticFrame, output: MethodOutput, previous: tuple[SyntheticFrame, np.ndarray] | None
) -> np.ndarray:
    """Add one frame's scores to ``totals``; return the checked predicted alphas (for the next frame's temporal scores)."""
    alpha = _check_output(output, frame)
    gt = frame.alpha
    present = gt.reshape(len(gt), -1).max(1) > 0
    found = alpha.reshape(len(alpha), -1).max(1) > 0
    scores = score_instances(alpha[found], gt[present])
    for pair in scores.pairs:
        for name in PAIR_METRICS:
            totals.add(name, getattr(pair, name))
    totals.imq += scores.imq

    if previous is not None:
        previous_frame, previous_alpha = previous
        flows = source_flows(frame.image, previous_frame.image)
        for k in range(len(gt)):
            if present[k] or previous_frame.alpha[k].max() > 0:
                totals.add("dtssd", dtssd(alpha[k], previous_alpha[k], gt[k], previous_frame.alpha[k]))
                totals.add("messddt", messddt(alpha[k], previous_alpha[k], gt[k], previous_frame.alpha[k]))
                totals.add("warp", frame_warp_error(alpha[k], previous_alpha[k], flows))
                totals.add("warp_gt", frame_warp_error(gt[k], previous_frame.alpha[k], flows))

    visible_ids = [i for i, p in zip(frame.instance_ids, present) if p]
    for j, f in j_and_f(id_map_from_alphas(alpha, frame.instance_ids), frame.id_map, visible_ids).values():
        totals.add("j", j)
        totals.add("f", f)

    for kind, edits, truth in (
        ("removal", output.removed, frame.removed),
        ("swap", output.swapped, lambda key: frame.swapped(*key)),
    ):
        for key, edited in (edits or {}).items():
            exact = truth(key)
            totals.add(f"{kind}_l1", mean_l1(edited, exact))
            totals.add(f"{kind}_l2", mean_l2(edited, exact))
            totals.add(f"{kind}_psnr", min(psnr(edited, exact), PSNR_CAP))

    if output.instance_depth is not None:
        predicted = np.where(present, np.asarray(output.instance_depth, np.float64), np.nan)
        right, counted = pairwise_order_counts(predicted, np.where(present, frame.instance_depth, np.nan))
        totals.depth_right += right
        totals.depth_counted += counted
    return alpha


def _run_clip(method: Method, clip: Iterable[SyntheticFrame], guidance: Guidance, totals: LevelTotals) -> None:
    pending: deque[SyntheticFrame] = deque()
    loading = 0.0

    def inputs() -> Iterator[MethodInput]:
        nonlocal loading
        frames = iter(clip)
        while True:
            start = time.perf_counter()
            frame = next(frames, None)
            loading += time.perf_counter() - start
            if frame is None:
                return
            pending.append(frame)
            yield MethodInput(frame.index, frame.image, guidance(frame), list(frame.instance_ids), frame.overlapping_pairs())

    outputs = method(inputs())
    previous = None
    while True:
        loading_before = loading
        start = time.perf_counter()
        # The guidance is read (or perturbed) while the inputs are drawn, so it counts as loading.
        output = next(outputs, None)
        totals.method_seconds += time.perf_counter() - start - (loading - loading_before)
        if output is None:
            break
        if not pending:
            raise ConfigError("the method returned more frames than it was given.")
        frame = pending.popleft()
        alpha = score_frame(totals, frame, output, previous)
        previous = (frame, alpha)
        totals.frames += 1
    if pending:
        raise ConfigError(f"the method returned {len(pending)} frame(s) fewer than it was given.")
    totals.clips += 1


def evaluate(
    methods: dict[str, Callable[[], Method]],
    clips: Sequence[SyntheticClip],
    *,
    guidance: str = DEFAULT_GUIDANCE,
    seed: int = 0,
    on_clip=None,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{method: {level: {metric: value}}}`` plus an ``"all"`` level; ``methods`` maps names to factories.

    ``guidance`` names where the methods' guidance masks come from (:mod:`vmat.evaluation.guidance`:
    ``propagated[:PROPAGATOR]``, ``perturbed`` with ``seed``, or ``exact``); each clip's masks are made once
    and given to every method. Each clip is run once per method with a fresh method instance.
    ``on_clip(method, clip)`` is called before each run (for progress reports).
    """
    parse_guidance(guidance)  # a bad setting fails before any clip
    per_method: dict[str, dict[str, LevelTotals]] = {name: {} for name in methods}
    for clip in clips:
        with clip_guidance(clip, guidance, seed) as masks:
            for name, factory in methods.items():
                if on_clip is not None:
                    on_clip(name, clip)
                _run_clip(factory(), clip, masks, per_method[name].setdefault(clip.level, LevelTotals()))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, per_level in per_method.items():
        results[name] = {level: totals.result() for level, totals in per_level.items()}
        # The "all" row re-scores nothing: it is summed from the per-level totals.
        overall = LevelTotals()
        for totals in per_level.values():
            _merge(overall, totals)
        results[name]["all"] = overall.result()
    return results


def _merge(into: LevelTotals, other: LevelTotals) -> None:
    for name, mean in other.means.items():
        target = into.means.setdefault(name, _Mean())
        target.total += mean.total
        target.count += mean.count
    into.imq += other.imq
    into.depth_right += other.depth_right
    into.depth_counted += other.depth_counted
    into.frames += other.frames
    into.clips += other.clips
    into.method_seconds += other.method_seconds

