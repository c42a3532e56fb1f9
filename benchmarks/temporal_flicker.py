"""Matte flicker of layers files of the same clip (e.g. from ``vmat run --temporal off`` and ``--temporal
fusion``): the alpha's flow-warping error (:func:`vmat.metrics.temporal.frame_warp_error`, x1e3; flow from the
source frames, occlusion-masked), per person and frame pair. Layers made at a ``--process-size`` are compared
with the frames brought to that size.

    python benchmarks/temporal_flicker.py CLIP A.vlayers B.vlayers [--map flicker.png]

``--map`` also writes, side by side for each layers file, where the flicker is: each pixel's mean squared
change along the flow over the frames in which it was visible in both (all people summed), bright = more.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from vmat.geometry import shrink_image
from vmat.io import open_video
from vmat.layers import LayersReader
from vmat.metrics.temporal import frame_warp_error, source_flows, warp_backward
from vmat.propagation.flow import occlusion_mask


def flicker(clip: str, layers: str) -> tuple[float, np.ndarray]:
    """The clip's warp error (x1e3) and its per-pixel map ``(h, w)`` (mean squared change along the flow while visible)."""
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
                flows = source_flows(image, previous_image)
                seen = ~occlusion_mask(*flows)
                count += seen
                for instance in alpha.keys() & previous_alpha.keys():
                    values.append(frame_warp_error(alpha[instance], previous_alpha[instance], flows))
                    total += (alpha[instance].astype(np.float64) - warp_backward(previous_alpha[instance], flows[0])) ** 2 * seen
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
        print(f"{layers}: warp error {value:.3f} (x1e3)")
    if args.map:
        # One scale for every panel (the first file's 99.9th percentile = white), so they compare directly.
        scale = max(np.percentile(maps[0], 99.9), 1e-6)
        panels = [np.clip(m / scale * 255, 0, 255).astype(np.uint8) for m in maps]
        gap = np.full((panels[0].shape[0], 4), 128, np.uint8)
        cv2.imwrite(args.map, np.concatenate([x for panel in panels for x in (panel, gap)][:-1], axis=1))
        print(f"wrote {args.map}")


if __name__ == "__main__":
    main()
