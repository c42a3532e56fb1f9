"""``vmat bench edits``: edit fidelity on the synthetic suite's exact edit ground truth, and speed at 720p.

    vmat bench edits fidelity --suite standard
    vmat bench edits speed --frames 24

Fidelity is measured with three kinds of layers per suite clip:

* ``GT layers``: each person's own alpha and colour and the true background, as the generator composited
  them. Removal and reordering must reproduce the exact edited frames.
* ``visible layers``: an oracle for what a matting stage can know from the frame alone: each person's true
  *visible* matte, their colour, and a background plane that is just the frame's pixels (nothing is known
  behind people).
* ``vmat layers``: what vmat's weight-free decomposer makes from the frame and its instance id map.

Removal is scored without and with :func:`~vmat.editing.completion.complete_background`.

Scores are MP-Mat's (tables 5-6): mean L1 and L2 in percent and PSNR in dB over the whole frame, and PSNR
inside the removed person's visible area, where the edit actually changes pixels.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import torch

from vmat.decomposition import MaskMattingDecomposer
from vmat.editing.background import replace_background, solid_background
from vmat.editing.completion import complete_background
from vmat.editing.dragging import Placement, drag
from vmat.editing.removal import remove, remove_clip
from vmat.editing.reordering import reorder
from vmat.layers import LayersReader, LayerStack, LayersWriter, tensor_to_image
from vmat.metrics.editing import mean_l1, mean_l2, psnr
from vmat.synthetic import SceneConfig, SyntheticFrame, SyntheticScene, suite_specs


def ground_truth_layers(frame: SyntheticFrame) -> LayerStack:
    """The exact layers a synthetic frame was composited from."""
    colour = np.concatenate([frame.background[None], frame.foreground]).astype(np.float32) / 255.0
    alpha = np.concatenate([np.ones((1, *frame.background.shape[:2]), np.float32), frame.layer_alpha])
    depth = np.concatenate([[np.inf], frame.instance_depth]).astype(np.float32)
    return LayerStack(
        torch.from_numpy(colour).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(alpha),
        torch.from_numpy(depth),
        (0, *frame.instance_ids),
    )


def visible_layers(frame: SyntheticFrame) -> LayerStack:
    """Layers from visible mattes only, with the frame's own pixels as the background plane."""
    weights = np.concatenate([frame.background_alpha[None], frame.alpha])
    colour = np.concatenate([frame.image[None], frame.foreground]).astype(np.float32) / 255.0
    depth = np.concatenate([[np.inf], frame.instance_depth]).astype(np.float32)
    return LayerStack.from_weights(
        torch.from_numpy(weights),
        torch.from_numpy(colour).permute(0, 3, 1, 2).contiguous(),
        torch.from_numpy(depth),
        (0, *frame.instance_ids),
    )


class _Scores:
    """Per-edit scores grouped by (edit, level)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[tuple[float, float, float, float]]] = defaultdict(list)

    def add(self, edit: str, level: str, predicted: np.ndarray, truth: np.ndarray, region: np.ndarray) -> None:
        inside = psnr(predicted[region], truth[region]) if region.any() else math.nan
        whole = (mean_l1(predicted, truth), mean_l2(predicted, truth), psnr(predicted, truth))
        self.rows[edit, level].append((*whole, inside))

    def table(self) -> str:
        lines = [
            "| edit | level | n | mean L1 % | mean L2 % | PSNR dB (mean, finite) | PSNR min dB | exact | "
            "PSNR in region dB |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for (edit, level), rows in sorted(self.rows.items()):
            values = np.array(rows)
            whole = values[:, 2]
            finite = whole[np.isfinite(whole)]
            region = values[:, 3][np.isfinite(values[:, 3])]
            lines.append(
                f"| {edit} | {level} | {len(rows)} | {values[:, 0].mean():.4f} | {values[:, 1].mean():.5f} | "
                f"{finite.mean() if finite.size else math.inf:.2f} | {whole.min():.2f} | "
                f"{(~np.isfinite(whole)).mean():.0%} | {region.mean() if region.size else math.inf:.2f} |"
            )
        return "\n".join(lines)


def _render(stack: LayerStack) -> np.ndarray:
    return tensor_to_image(stack.render())


def fidelity(suite: str, clips: list[str] | None = None) -> str:
    """Score removal and reordering on every frame and person of a synthetic suite; a markdown table.

    Args:
        suite: a suite name from :data:`vmat.synthetic.SUITES`.
        clips: only these clip names of the suite (all when ``None``).
    """
    scores = _Scores()
    for spec in suite_specs(suite):
        if clips is not None and spec.name not in clips:
            continue
        frames = list(SyntheticScene(spec.config).frames())
        level = f"{spec.config.level}/{spec.config.camera}"
        visible = [visible_layers(frame) for frame in frames]
        completed = [done.stack for done in complete_background(visible)]
        decomposer = MaskMattingDecomposer()
        ours = [decomposer.decompose(f.image, f.id_map) for f in frames]
        ours_completed = [done.stack for done in complete_background(ours)]
        for frame, plain, filled, bare, predicted in zip(frames, visible, completed, ours, ours_completed):
            truth_layers = ground_truth_layers(frame)
            for k, instance_id in enumerate(frame.instance_ids):
                region = frame.alpha[k] > 0
                if not region.any():
                    continue
                truth = frame.removed(instance_id)
                scores.add("remove, GT layers", level, _render(remove(truth_layers, instance_id)), truth, region)
                scores.add("remove, visible layers", level, _render(remove(plain, instance_id)), truth, region)
                scores.add("remove, visible + completion", level, _render(remove(filled, instance_id)), truth, region)
                if instance_id in predicted.ids:
                    scores.add("remove, vmat layers", level, _render(remove(bare, instance_id)), truth, region)
                    scores.add("remove, vmat layers + completion", level, _render(remove(predicted, instance_id)), truth, region)
            for p, q in frame.overlapping_pairs():
                truth = frame.swapped(p, q)
                region = np.any(truth != frame.image, axis=-1)
                scores.add("reorder, GT layers", level, _render(reorder(truth_layers, p, q)), truth, region)
                scores.add("reorder, visible layers", level, _render(reorder(plain, p, q)), truth, region)
                if p in predicted.ids and q in predicted.ids:
                    scores.add("reorder, vmat layers", level, _render(reorder(predicted, p, q)), truth, region)
    return scores.table()


def _timed(action: Callable[[], object], repeats: int) -> float:
    action()
    start = time.perf_counter()
    for _ in range(repeats):
        action()
    return (time.perf_counter() - start) / repeats * 1000.0


def _edit_and_render(edit: Callable[[], LayerStack], uint8: bool = False) -> object:
    """The edit, then its picture (converted to uint8 when asked): what each timing column adds."""
    picture = edit().render()
    return tensor_to_image(picture) if uint8 else picture


def speed(num_frames: int, repeats: int = 10) -> str:
    """Time each edit on a 1280x720 synthetic frame, and a whole-clip removal from a layers file."""
    config = SceneConfig(level="medium", camera="static", width=1280, height=720, num_frames=num_frames, seed=7)
    frames = SyntheticScene(config).frames()
    first = next(frames)
    stack = ground_truth_layers(first)
    front, back = first.instance_ids[first.order[0]], first.instance_ids[first.order[-1]]
    green = solid_background((0, 255, 0), 1280, 720)
    edits: dict[str, Callable[[], LayerStack]] = {
        "remove": lambda: remove(stack, front),
        "reorder (front <-> back)": lambda: reorder(stack, front, back),
        "drag (move, scale, rotate)": lambda: drag(stack, front, Placement(dx=40, dy=10, scale=1.1, angle=8)),
        "replace background": lambda: replace_background(stack, green),
    }
    lines = [
        f"1280x720, {len(stack.ids) - 1} people, torch threads {torch.get_num_threads()}",
        "",
        "| edit | edit only ms | edit + render ms | edit + render + uint8 ms |",
        "| --- | --- | --- | --- |",
    ]
    for name, edit in edits.items():
        lines.append(
            f"| {name} | {_timed(edit, repeats):.1f} | {_timed(partial(_edit_and_render, edit), repeats):.1f} | "
            f"{_timed(partial(_edit_and_render, edit, uint8=True), repeats):.1f} |"
        )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "clip.vlayers"
        with LayersWriter(path) as writer:
            writer.write(stack)
            for frame in frames:
                writer.write(ground_truth_layers(frame))
        start = time.perf_counter()
        count = 0
        for edited in remove_clip(LayersReader(path), front):
            tensor_to_image(edited.render())
            count += 1
        elapsed = time.perf_counter() - start
        size = sum(f.stat().st_size for f in path.rglob("*")) / count / 1e6
    lines += [
        "",
        f"whole-clip removal from a layers file (read + edit + render + uint8): {count / elapsed:.1f} frames/s "
        f"over {count} frames; layers file {size:.2f} MB per frame",
    ]
    return "\n".join(lines)
