"""Matte flicker where the picture is still, for layers files of the same clip (e.g. from ``vmat run
--temporal off`` and ``--temporal fusion``): mean |alpha_t - alpha_{t-1}| over pixels whose frame did not
change (x1e3). Layers made at a ``--process-size`` are compared with the frames brought to that size.

    python benchmarks/temporal_flicker.py CLIP A.vlayers B.vlayers [--map flicker.png]

``--map`` also writes, side by side for each layers file, where the flicker is: each pixel's mean
|alpha_t - alpha_{t-1}| over the frames in which it was still (all people summed), bright = more.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from vmat.decomposition.resolution import shrink_image
from vmat.io import open_video
from vmat.layers import LayersReader
from vmat.metrics.temporal import still_flicker
from vmat.temporal import frame_change_map


def flicker(clip: str, layers: str) -> tuple[float, np.ndarray]:
    """The clip's still-region flicker (x1e3) and its per-pixel map ``(h, w)`` (mean |delta alpha| while still)."""
    values, previous_image, previous_alpha = [], None, None
    total = count = None
    with open_video(clip) as reader:
        for frame, stack in zip(reader, LayersReader(layers), strict=True):
            alpha = {i: stack.alpha[p].numpy() for p, i in enumerate(stack.ids) if p > 0}
            height, width = stack.alpha.shape[-2:]
            image = shrink_image(frame.image, (width, height))  # as ShrinkStage made the layers' frames
            if total is None:
                total, count = np.zeros((height, width)), np.zeros((height, width))
            if previous_image is not None:
                still = ~frame_change_map(previous_image, image)
                count += still
                for instance in alpha.keys() & previous_alpha.keys():
                    values.append(still_flicker(alpha[instance], previous_alpha[instance], still))
                    total += np.abs(alpha[instance].astype(np.float64) - previous_alpha[instance]) * still
            previous_image, previous_alpha = image, alpha
    return float(np.mean(values)), total / np.maximum(count, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("layers", nargs="+")
    parser.add_argument("--map", help="also write the per-pixel flicker maps, side by side, to this PNG")
    args = parser.parse_args()
    maps = []
    for layers in args.layers:
        value, where = flicker(args.clip, layers)
        maps.append(where)
        print(f"{layers}: still-region flicker {value:.3f} (x1e3)")
    if args.map:
        # One scale for every panel (the first file's 99.9th percentile = white), so they compare directly.
        scale = max(np.percentile(maps[0], 99.9), 1e-6)
        panels = [np.clip(m / scale * 255, 0, 255).astype(np.uint8) for m in maps]
        gap = np.full((panels[0].shape[0], 4), 128, np.uint8)
        cv2.imwrite(args.map, np.concatenate([x for panel in panels for x in (panel, gap)][:-1], axis=1))
        print(f"wrote {args.map}")


if __name__ == "__main__":
    main()
