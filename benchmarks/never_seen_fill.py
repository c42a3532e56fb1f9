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

from vmat.bench.completion import METHODS, Method, Paste, _Scores, default_pastes, real_paste, synthetic
from vmat.editing.completion import CompletedFrame, CompletionConfig
from vmat.editing.inpaint import InpaintConfig
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
    """The bench's pastes (DAVIS lucia) and two held out (hike and stroller in the woman-and-dog clip)."""
    juggle, bedroom = default_pastes(data)
    davis, woman_dog = data / "davis", str(data / "clips" / "woman_dog_static_720p.mp4")
    return {
        "lucia in juggle_static": (davis / "lucia", juggle),
        "lucia in bedroom_pan": (davis / "lucia", bedroom),
        "held out: hike in woman_dog": (davis / "hike", Paste(woman_dog, (0.90, 0.80), 0.6)),
        "held out: stroller in woman_dog": (davis / "stroller", Paste(woman_dog, (0.50, 0.62), 0.5)),
    }


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
        real_paste(scores, group, davis, paste, args.frames, 640, chosen)
    print("\n".join(line for line in scores.table().splitlines() if "| seen |" not in line))
    print()
    print("completion seconds, whole run:", ", ".join(f"{k} {v:.0f}" for k, v in SECONDS.items()))


if __name__ == "__main__":
    main()
