"""Matte flicker where the picture is still, for two layers files of the same clip (e.g. with and without
``vmat run --temporal``): mean |alpha_t - alpha_{t-1}| over pixels whose frame did not change (x1e3).

    python benchmarks/temporal_flicker.py CLIP A.vlayers B.vlayers
"""

from __future__ import annotations

import argparse

import numpy as np

from vmat.io import open_video
from vmat.layers import LayersReader
from vmat.metrics.temporal import still_flicker
from vmat.temporal import frame_change_map


def flicker(clip: str, layers: str) -> float:
    values, previous_image, previous_alpha = [], None, None
    with open_video(clip) as reader:
        for frame, stack in zip(reader, LayersReader(layers), strict=True):
            alpha = {i: stack.alpha[p].numpy() for p, i in enumerate(stack.ids) if p > 0}
            if previous_image is not None:
                still = ~frame_change_map(previous_image, frame.image)
                for instance in alpha.keys() & previous_alpha.keys():
                    values.append(still_flicker(alpha[instance], previous_alpha[instance], still))
            previous_image, previous_alpha = frame.image, alpha
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("layers", nargs="+")
    args = parser.parse_args()
    for layers in args.layers:
        print(f"{layers}: still-region flicker {flicker(args.clip, layers):.3f} (x1e3)")


if __name__ == "__main__":
    main()
