"""``vmat bench masks``: mask propagators side by side on real ground truth, scored as DAVIS does.

    vmat bench masks [--data DIR] [--method NAME ...] [--sequence NAME ...] [--frames N] [--json FILE]
    vmat bench masks --auto ...
    vmat bench masks --synthetic standard

Data: a folder with one sub-folder per sequence, ``NAME/NAME.mp4`` (any clip or image folder vmat reads)
and ``NAME/masks/*.png``, one id mask per frame (grey or DAVIS palette; 0 = background), as in
``../shared/data/davis``; or a synthetic suite (:mod:`vmat.synthetic.suites`), whose id maps are exact.

Methods are the propagators registered by name in :mod:`vmat.propagation.registry` (all of them unless
``--method`` picks some); a propagator registered there is benchmarked without changes here. Every
method starts from frame 0's ground truth, turned into the start mask exactly as ``vmat masks --prompt``
does, and is stepped through the clip in one decoding pass shared by all methods.

Scores, the DAVIS convention: J (IoU) and F (boundary F-measure, tolerance ``ceil(0.008 x diagonal)``
pixels) from :mod:`vmat.metrics.segmentation`, per object (every id of frame 0's ground truth), averaged
over frames 1 .. N-2, then over the sequence's objects; means are over sequences. Reported x 100.
``ms/frame`` is the time inside the method (``start`` on frame 0 and ``step`` on each scored frame,
decoding and scoring excluded) divided by the frames stepped.

With ``--auto`` the start mask is what ``vmat masks`` finds without a prompt (the fallback people finder on
the first frames) instead of the ground truth. Its ids are matched to the ground-truth objects once per
clip (Hungarian, maximising the summed J over frames 1 .. N-2; an object may stay unmatched), and J is
reported after that matching, with the number of people found on frame 0 against the objects annotated.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice, zip_longest
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from vmat.errors import ConfigError, InputNotFoundError
from vmat.metrics.segmentation import j_and_f, jaccard

# ../shared/data/davis next to the repository, when vmat runs from a checkout that has it.
DEFAULT_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "davis"

FramePairs = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]


@dataclass(frozen=True)
class BenchSequence:
    """One clip with ground truth: ``pairs()`` yields ``((H, W, 3) RGB uint8 frame, (H, W) id mask)`` afresh."""

    name: str
    length: int
    pairs: FramePairs


def _video_pairs(name: str, video: Path, masks: list[Path]) -> FramePairs:
    from vmat.propagation import read_id_mask, video_frames

    frames = video_frames(video)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index, (image, mask_file) in enumerate(zip_longest(frames(), masks)):
            if image is None or mask_file is None:
                raise ConfigError(
                    f"sequence {name!r} has {'more' if image is None else 'fewer'} masks than frames "
                    f"(first odd one: frame {index})."
                )
            ids = read_id_mask(mask_file)
            if ids.shape != image.shape[:2]:
                raise ConfigError(
                    f"sequence {name!r}: mask {mask_file.name} is {ids.shape[1]}x{ids.shape[0]}, "
                    f"the frame {image.shape[1]}x{image.shape[0]}."
                )
            yield image, ids

    return pairs


def folder_sequences(folder: str | Path, names: Sequence[str] | None = None) -> list[BenchSequence]:
    """The sequences of a DAVIS-style folder (see module doc), in name order, or only ``names``."""
    from vmat.io.image_sequence import natural_key

    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"the data folder {str(folder)!r} does not exist.")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    chosen = list(names) if names else found
    missing = [n for n in chosen if n not in found]
    if missing:
        raise InputNotFoundError(f"no sequence {missing[0]!r} in {str(folder)!r} (it has: {', '.join(found) or 'none'}).")
    sequences = []
    for name in chosen:
        video = folder / name / f"{name}.mp4"
        masks = sorted((folder / name / "masks").glob("*.png"), key=natural_key)
        if not video.is_file() or not masks:
            raise InputNotFoundError(f"sequence folder {str(folder / name)!r} needs {name}.mp4 and masks/*.png.")
        sequences.append(BenchSequence(name, len(masks), _video_pairs(name, video, masks)))
    if not sequences:
        raise InputNotFoundError(f"the data folder {str(folder)!r} holds no sequence folders.")
    return sequences


def synthetic_sequences(suite: str) -> list[BenchSequence]:
    """The clips of a synthetic suite, generated on the fly, with their exact id maps."""
    from vmat.synthetic.scene import SyntheticScene
    from vmat.synthetic.suites import suite_specs

    def pairs_of(config) -> FramePairs:
        return lambda: ((frame.image, frame.id_map) for frame in SyntheticScene(config).frames())

    return [BenchSequence(spec.name, spec.config.num_frames, pairs_of(spec.config)) for spec in suite_specs(suite)]


@dataclass
class MethodResult:
    """One method on one sequence. ``j`` and ``f`` are per ground-truth object, x 100."""

    sequence: str
    method: str
    j: dict[int, float]
    f: dict[int, float] | None  # None in automatic mode (only J after matching is reported)
    frames_scored: int
    seconds: float
    frames_stepped: int
    # Automatic mode: ground-truth object -> the method's id matched to it (None: unmatched).
    matched: dict[int, int | None] | None = None

    @property
    def mean_j(self) -> float:
        return statistics.fmean(self.j.values())

    @property
    def mean_f(self) -> float:
        return statistics.fmean(self.f.values()) if self.f else math.nan

    @property
    def mean_jf(self) -> float:
        return (self.mean_j + self.mean_f) / 2

    @property
    def ms_per_frame(self) -> float:
        return 1000 * self.seconds / max(self.frames_stepped, 1)

    def to_dict(self) -> dict:
        out = {
            "sequence": self.sequence,
            "method": self.method,
            "J": self.mean_j,
            "F": self.mean_f if self.f else None,
            "J&F": self.mean_jf if self.f else None,
            "ms_per_frame": self.ms_per_frame,
            "frames_scored": self.frames_scored,
            "per_object": {str(k): {"J": self.j[k]} | ({"F": self.f[k]} if self.f else {}) for k in self.j},
        }
        if self.matched is not None:
            out["matched"] = {str(k): v for k, v in self.matched.items()}
        return out


@dataclass
class SequenceResult:
    """All methods on one sequence; ``found`` is the automatic mode's people on frame 0."""

    sequence: str
    objects: list[int]
    frames: int
    methods: list[MethodResult] = field(default_factory=list)
    found: int | None = None


class _DavisTally:
    """Per-object J and F summed over the frames scored so far."""

    def __init__(self, objects: list[int]) -> None:
        self.objects = objects
        self.j = dict.fromkeys(objects, 0.0)
        self.f = dict.fromkeys(objects, 0.0)
        self.frames = 0

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        for k, (j, f) in j_and_f(pred, gt, self.objects).items():
            self.j[k] += j
            self.f[k] += f
        self.frames += 1

    def scores(self) -> tuple[dict[int, float], dict[int, float] | None, dict[int, int | None] | None]:
        n = max(self.frames, 1)
        return {k: 100 * v / n for k, v in self.j.items()}, {k: 100 * v / n for k, v in self.f.items()}, None


class _MatchedTally:
    """J of every predicted id against every ground-truth object, summed over frames, for one matching per clip."""

    def __init__(self, objects: list[int]) -> None:
        self.objects = objects
        self.frames = 0
        # Frames on which each object is absent: an id that has not appeared yet scored J = 1 there.
        self.absent = np.zeros(len(objects))
        self.sums: dict[int, np.ndarray] = {}

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        truth = [gt == k for k in self.objects]
        for p in np.unique(pred).tolist():
            if p > 0 and p not in self.sums:
                self.sums[p] = self.absent.copy()
        for p, row in self.sums.items():
            mine = pred == p
            row += [jaccard(mine, t) for t in truth]
        self.absent += [not t.any() for t in truth]
        self.frames += 1

    def scores(self) -> tuple[dict[int, float], None, dict[int, int | None]]:
        n = max(self.frames, 1)
        ids = list(self.sums)
        # One extra column per object means "no id": it scores J = 1 exactly where the object is absent.
        unmatched = np.repeat(self.absent[:, None], len(self.objects), axis=1)
        value = np.hstack([np.array([self.sums[p] for p in ids]).T.reshape(len(self.objects), len(ids)), unmatched]) / n
        rows, cols = linear_sum_assignment(-value)
        j = {self.objects[r]: 100 * float(value[r, c]) for r, c in zip(rows, cols)}
        # An id that never overlaps its object is no match, whatever the assignment paired it with.
        matched = {self.objects[r]: (ids[c] if c < len(ids) and value[r, c] > 0 else None) for r, c in zip(rows, cols)}
        return j, None, matched


def start_masks(sequence: BenchSequence, first: tuple[np.ndarray, np.ndarray], auto: bool, limit: int) -> np.ndarray:
    """Frame 0's start mask as ``vmat masks`` makes it: from the ground-truth id mask, or found automatically."""
    from vmat.propagation.clip import MaskingConfig, first_frame_prompt
    from vmat.propagation.prompts import FramePrompt, apply_prompt

    image, gt = first
    config = MaskingConfig()
    if auto:
        prompt = first_frame_prompt(lambda: (im for im, _ in islice(sequence.pairs(), limit)), config)
    else:
        prompt = FramePrompt(0, id_mask=gt)
    return apply_prompt(image, prompt, None, config.segment)


def run_sequence(
    sequence: BenchSequence, methods: Sequence[str], frames: int | None = None, auto: bool = False
) -> SequenceResult:
    """Every method in ``methods`` on ``sequence`` (its first ``frames`` frames), in one decoding pass."""
    from vmat.progress import progress
    from vmat.propagation import make_propagator

    length = sequence.length if frames is None else min(frames, sequence.length)
    if length < 3:
        raise ConfigError(
            f"sequence {sequence.name!r} needs at least 3 frames to score (DAVIS leaves out the first and the last); "
            f"it has {length}."
        )
    # Without a limit the whole clip is read, so that a clip longer than its masks is caught.
    pairs = sequence.pairs() if frames is None else islice(sequence.pairs(), length)
    image, gt = next(pairs)
    objects = [int(k) for k in np.unique(gt) if k > 0]
    if not objects:
        raise ConfigError(f"sequence {sequence.name!r}: frame 0's mask annotates no object.")
    start = start_masks(sequence, (image, gt), auto, length)
    propagators = {name: make_propagator(name) for name in methods}
    tallies = {name: (_MatchedTally if auto else _DavisTally)(objects) for name in methods}
    seconds = dict.fromkeys(methods, 0.0)
    states = {}
    for name, propagator in propagators.items():
        began = time.perf_counter()
        states[name] = propagator.start(image, start)
        seconds[name] += time.perf_counter() - began
    stepped = 0
    for index, (image, gt) in progress(enumerate(pairs, start=1), total=length - 1, desc=sequence.name):
        if index == length - 1:
            continue  # DAVIS scores frames 1 .. N-2; the last frame is read only to check the data
        for name, propagator in propagators.items():
            began = time.perf_counter()
            ids, states[name] = propagator.step(image, states[name])
            seconds[name] += time.perf_counter() - began
            tallies[name].add(ids, gt)
        stepped += 1
    result = SequenceResult(sequence.name, objects, length, found=len(np.unique(start[start > 0])) if auto else None)
    for name in methods:
        j, f, matched = tallies[name].scores()
        result.methods.append(MethodResult(sequence.name, name, j, f, tallies[name].frames, seconds[name], stepped, matched))
    return result


def run_benchmark(
    sequences: Sequence[BenchSequence], methods: Sequence[str] | None = None, frames: int | None = None, auto: bool = False
) -> list[SequenceResult]:
    """:func:`run_sequence` on each sequence; ``methods`` default to every registered propagator."""
    from vmat.propagation import make_propagator, propagator_names

    methods = list(methods or propagator_names())
    for name in methods:
        make_propagator(name)  # an unknown name fails before any work
    return [run_sequence(sequence, methods, frames, auto) for sequence in sequences]


@dataclass
class MethodMean:
    """A method's mean over a group of sequences (ms/frame: total time over total frames)."""

    j: float
    f: float
    jf: float
    ms_per_frame: float


def method_means(results: Sequence[SequenceResult]) -> dict[str, MethodMean]:
    """Per method, the mean of the per-sequence scores."""
    means = {}
    for name in [m.method for m in results[0].methods]:
        rows = [m for r in results for m in r.methods if m.method == name]
        ms = 1000 * sum(m.seconds for m in rows) / max(sum(m.frames_stepped for m in rows), 1)
        means[name] = MethodMean(
            statistics.fmean(m.mean_j for m in rows),
            statistics.fmean(m.mean_f for m in rows),
            statistics.fmean(m.mean_jf for m in rows),
            ms,
        )
    return means


def _groups(results: Sequence[SequenceResult]) -> list[tuple[str, list[SequenceResult]]]:
    """The mean over all sequences, and over single- and multi-object ones separately when both occur."""
    single = [r for r in results if len(r.objects) == 1]
    multi = [r for r in results if len(r.objects) > 1]
    groups = [("mean", list(results))]
    if single and multi:
        groups += [(f"mean, one object ({len(single)})", single), (f"mean, several objects ({len(multi)})", multi)]
    return groups


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def markdown(results: Sequence[SequenceResult], auto: bool = False) -> str:
    """The headline table (one score per method side by side), then every score of every method."""
    if not results:
        return "(no sequences)"
    methods = [m.method for m in results[0].methods]
    headline = "J after matching" if auto else "J&F"
    lines = []
    if auto:
        lines.append("| sequence | frames | annotated | found | " + " | ".join(f"{m} J" for m in methods) + " |")
        lines.append("| --- " * (4 + len(methods)) + "|")
        for r in results:
            lines.append(
                f"| {r.sequence} | {r.frames} | {len(r.objects)} | {r.found} | "
                + " | ".join(_number(m.mean_j) for m in r.methods)
                + " |"
            )
        for label, group in _groups(results):
            means = method_means(group)
            annotated, found = sum(len(r.objects) for r in group), sum(r.found or 0 for r in group)
            lines.append(
                f"| **{label}** | | {annotated} | {found} | " + " | ".join(f"**{_number(means[m].j)}**" for m in methods) + " |"
            )
    else:
        lines.append("| sequence | frames | objects | " + " | ".join(f"{m} {headline}" for m in methods) + " |")
        lines.append("| --- " * (3 + len(methods)) + "|")
        for r in results:
            lines.append(
                f"| {r.sequence} | {r.frames} | {len(r.objects)} | " + " | ".join(_number(m.mean_jf) for m in r.methods) + " |"
            )
        for label, group in _groups(results):
            means = method_means(group)
            lines.append(f"| **{label}** | | | " + " | ".join(f"**{_number(means[m].jf)}**" for m in methods) + " |")
    if auto:
        # No F after matching: the detail is which id took which object.
        lines += ["", "| sequence | method | J | ms/frame | object: matched id |", "| --- | --- | --- | --- | --- |"]
        for r in results:
            for m in r.methods:
                pairs = ", ".join(f"{k}: {'-' if v is None else v}" for k, v in (m.matched or {}).items())
                lines.append(f"| {r.sequence} | {m.method} | {_number(m.mean_j)} | {m.ms_per_frame:.1f} | {pairs} |")
        for label, group in _groups(results):
            for name, mean in method_means(group).items():
                lines.append(f"| **{label}** | {name} | {_number(mean.j)} | {mean.ms_per_frame:.1f} | |")
        return "\n".join(lines)
    lines += ["", "| sequence | method | J | F | J&F | ms/frame |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        for m in r.methods:
            lines.append(
                f"| {r.sequence} | {m.method} | {_number(m.mean_j)} | {_number(m.mean_f)} | {_number(m.mean_jf)} "
                f"| {m.ms_per_frame:.1f} |"
            )
    for label, group in _groups(results):
        for name, mean in method_means(group).items():
            lines.append(
                f"| **{label}** | {name} | {_number(mean.j)} | {_number(mean.f)} | {_number(mean.jf)} | {mean.ms_per_frame:.1f} |"
            )
    return "\n".join(lines)


def to_json(results: Sequence[SequenceResult], data: str, frames: int | None, auto: bool) -> dict:
    """Everything measured, as plain JSON-able data (NaN written as null)."""

    def clean(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {
        "data": data,
        "frames_limit": frames,
        "auto": auto,
        "matching": "per clip" if auto else None,
        "methods": [m.method for m in results[0].methods] if results else [],
        "sequences": [
            {
                "sequence": r.sequence,
                "frames": r.frames,
                "objects": r.objects,
                "found": r.found,
                "methods": [m.to_dict() for m in r.methods],
            }
            for r in results
        ],
        "means": {
            label: {
                name: {"J": clean(mean.j), "F": clean(mean.f), "J&F": clean(mean.jf), "ms_per_frame": mean.ms_per_frame}
                for name, mean in method_means(group).items()
            }
            for label, group in (_groups(results) if results else [])
        },
    }
