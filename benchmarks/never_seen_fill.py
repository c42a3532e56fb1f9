"""The never-seen split of ``vmat bench completion`` for the inpainting's settings, on the bench's clips and on
held-out pastes the bench does not have (DAVIS hike and stroller pasted into the woman-and-dog clip).

    python benchmarks/never_seen_fill.py --data ../shared/data --frames 24

Methods, in one run: the previous completion (Telea per frame), the current default (the membrane's colour
fading 24 px into the hole), the current default with the membrane all the way in (``structure_reach=None``,
the default of ``79a0e56`` only), and the current default in the one-pass stream. Rows: the never-seen split
(PSNR, SSIM, sharpness, warping error), as the bench scores it; then each method's completion time over the
whole run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vmat.bench.completion import METHODS, Method, Paste, _render, _Scores, camera_reference, pasted_clip, synthetic
from vmat.decomposition import MaskMattingDecomposer
from vmat.editing.completion import CompletedFrame, CompletionConfig, Filled
from vmat.editing.inpaint import InpaintConfig
from vmat.editing.removal import remove
from vmat.layers import LayerStack


SECONDS: dict[str, float] = {}


@dataclass(frozen=True)
class _Timed(Method):
    """A method that adds the time its completions take to ``SECONDS[name]``."""

    name: str = ""

    def complete(self, stacks: list[LayerStack], removing: list[int]) -> Iterator[CompletedFrame]:
        start = time.perf_counter()
        done = list(super().complete(stacks, removing))
        SECONDS[self.name] = SECONDS.get(self.name, 0.0) + time.perf_counter() - start
        return iter(done)


def methods() -> dict[str, Method]:
    everywhere = CompletionConfig(inpainting=InpaintConfig(structure_reach=None))
    plain = {
        "previous": METHODS["previous"],
        "current": METHODS["current"],
        "membrane all the way": Method(everywhere, lifts_shadows=True),
        "streamed": METHODS["streamed"],
    }
    return {name: _Timed(m.config, m.lifts_shadows, m.streamed, name) for name, m in plain.items()}


def pastes(data: Path) -> dict[str, tuple[Path, Paste]]:
    clips, davis = data / "clips", data / "davis"
    return {
        "lucia in juggle_static": (davis / "lucia", Paste(str(clips / "juggle_static_720p.mp4"), (0.22, 0.95))),
        "lucia in bedroom_pan": (davis / "lucia", Paste(str(clips / "bedroom_pan_540p.mp4"), (0.82, 0.97))),
        "held out: hike in woman_dog": (davis / "hike", Paste(str(clips / "woman_dog_static_720p.mp4"), (0.90, 0.80), 0.6)),
        "held out: stroller in woman_dog": (
            davis / "stroller",
            Paste(str(clips / "woman_dog_static_720p.mp4"), (0.50, 0.62), 0.5),
        ),
    }


def real(scores: _Scores, group: str, davis: Path, paste: Paste, chosen: dict[str, Method], frames: int) -> None:
    """As :func:`vmat.bench.completion.real`, for any methods: the split is the current method's codes."""
    clean, pasted, masks = pasted_clip(davis, paste, frames, 640)
    decomposer = MaskMattingDecomposer()
    stacks = [decomposer.decompose(image, mask.astype(np.uint8), instance_ids=[1]) for image, mask in zip(pasted, masks)]
    motions = camera_reference(clean)
    # The split comes from an untimed run, so that "current" is timed once like the others.
    invented = [d.source == Filled.INPAINTED for d in METHODS["current"].complete(stacks, [1])]
    for method, completion in chosen.items():
        last: tuple[np.ndarray, np.ndarray] | None = None
        for t, (frame, truth) in enumerate(zip(completion.complete(stacks, [1]), clean)):
            region = masks[t] | (frame.stack.alpha[1] > 0).numpy()
            result = _render(remove(frame.stack, 1))
            motion = motions[t]
            previous = None if last is None or motion is None else (*last, *motion)
            scores.add(group, method, result, truth, {"never seen": region & invented[t]}, previous)
            last = (result, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--suite", default="standard")
    args = parser.parse_args()
    chosen = methods()
    scores = _Scores()
    synthetic(scores, args.suite, methods=chosen)
    for group, (davis, paste) in pastes(args.data).items():
        real(scores, group, davis, paste, chosen, args.frames)
    print("\n".join(line for line in scores.table().splitlines() if "| seen |" not in line))
    print()
    print("completion seconds, whole run:", ", ".join(f"{k} {v:.0f}" for k, v in SECONDS.items()))


if __name__ == "__main__":
    main()
