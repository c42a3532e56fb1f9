"""Foreground colour error on synthetic frames, where the true colour F and alpha are known.

    python benchmarks/foreground_colour.py [--clips 6] [--frames 3]

1. Colour estimators given the TRUE alpha: the blended image colour itself (what a matte without colour
   estimation composites), vmat's multi-level estimation at full size, the same at half size enlarged and
   corrected to recompose the image (the closed-form decomposer's path), and pymatting's
   ``estimate_foreground_ml`` when installed. Error: mean of alpha * |F_est - F| (the error a composite
   shows), x255, over the soft pixels (0.02 < alpha < 0.98).
2. End to end: each decomposer (previous guided-filter mattes, the closed-form default) from a coarse mask
   (true alpha > 0.5, dilated or eroded by a seeded 0-2 px), its layer composited on flat green against the
   truth composited the same way: mean |difference| x255 within 8 px of the true outline.
Scenes: `easy` level (2-3 people who never overlap), 640x384, eval namespace, seeds 0..clips-1; every person scored.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer, estimate_foreground
from vmat.decomposition.mask_matting import recompose_colours
from vmat.geometry import morph
from vmat.synthetic.scene import SceneConfig, SyntheticScene

GREEN = np.array([0.1, 0.7, 0.2], np.float32)


def half_size_estimate(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    height, width = alpha.shape
    size = (width // 2, height // 2)
    small_f, small_b = estimate_foreground(
        cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    )
    return recompose_colours(image, alpha, small_f, small_b)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--frames", type=int, default=3)
    args = parser.parse_args()
    try:
        from pymatting import estimate_foreground_ml
    except ImportError:
        estimate_foreground_ml = None
    estimators = {
        "image colour (no estimation)": lambda image, alpha: image,
        "vmat multi-level, full size": lambda image, alpha: estimate_foreground(image, alpha)[0],
        "vmat multi-level, half size + recomposing correction": half_size_estimate,
    }
    if estimate_foreground_ml is not None:
        estimators["pymatting estimate_foreground_ml"] = lambda image, alpha: estimate_foreground_ml(
            image.astype(np.float64), alpha.astype(np.float64)
        ).astype(np.float32)
    decomposers = {
        "guided-filter mattes (previous)": MaskMattingDecomposer(MaskMattingConfig(solver="guided-filter")),
        "closed-form mattes (default)": MaskMattingDecomposer(),
    }
    colour_errors = {name: [] for name in estimators}
    composite_errors = {name: [] for name in decomposers}
    for seed in range(args.clips):
        scene = SyntheticScene(
            SceneConfig(level="easy", width=640, height=384, num_frames=args.frames, seed=seed, namespace="eval")
        )
        for frame in scene.frames():
            image = frame.image.astype(np.float32) / 255
            alphas = frame.alpha.astype(np.float32)
            ids = np.zeros(alphas.shape[1:], np.uint8)
            for k, alpha in enumerate(alphas):
                step = int(np.random.default_rng([seed, frame.index, k]).integers(-2, 3))
                ids[morph(alpha > 0.5, step) & (ids == 0)] = k + 1
            stacks = {
                name: decomposer.decompose(frame.image, ids, instance_ids=list(range(1, len(alphas) + 1)))
                for name, decomposer in decomposers.items()
            }
            for k, alpha in enumerate(alphas):
                if not (alpha > 0.5).any():
                    continue
                truth = frame.foreground[k].astype(np.float32) / 255
                soft = (alpha > 0.02) & (alpha < 0.98)
                for name, estimate in estimators.items():
                    colour_errors[name].append(
                        float((alpha[..., None] * np.abs(estimate(image, alpha) - truth))[soft].mean() * 255)
                    )
                near = morph(alpha > 0.5, 8) & ~morph(alpha > 0.5, -8)
                expected = alpha[..., None] * truth + (1 - alpha[..., None]) * GREEN
                for name, stack in stacks.items():
                    a = stack.alpha[1 + k].numpy()[..., None]
                    composite = a * stack.colour[1 + k].permute(1, 2, 0).numpy() + (1 - a) * GREEN
                    composite_errors[name].append(float(np.abs(composite - expected)[near].mean() * 255))
    print(f"{args.clips} clips x {args.frames} frames, {len(next(iter(composite_errors.values())))} people-frames")
    print("| colour from the true alpha | alpha-weighted colour error x255 (soft pixels) |\n|---|---|")
    for name, values in colour_errors.items():
        print(f"| {name} | {np.mean(values):.2f} |")
    print("\n| decomposer, coarse mask | composite-on-green error x255 (8 px around the outline) |\n|---|---|")
    for name, values in composite_errors.items():
        print(f"| {name} | {np.mean(values):.2f} |")


if __name__ == "__main__":
    main()
