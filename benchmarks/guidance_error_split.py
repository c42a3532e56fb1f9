"""Where the decomposer's error lies on the synthetic suite with propagated guidance: near the guidance mask's
outline (where a matte can fix it) or farther away (lost or swapped people, parts the propagator dropped).

    python benchmarks/guidance_error_split.py [--suite quick] [--near 3]

Each clip's frame-0 true id map is carried through the clip by vmat's default propagator (as `vmat eval`'s
default guidance); every configuration decomposes every frame with those masks. Per level: the mean absolute
error summed per person and frame (pixels of alpha), split into pixels within ``--near`` px of that person's
guidance outline and the rest, and the same split of the guidance mask itself used as the alpha.
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from vmat.cli.eval_cmd import DEFAULT_DATA
from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer
from vmat.evaluation.guidance import DEFAULT_PROPAGATOR, propagate_clip
from vmat.geometry import morph
from vmat.propagation.idmask import mask_path, read_id_mask
from vmat.synthetic import ensure_suite

CONFIGS = {
    "guidance mask": None,
    "guided-filter mattes (mask-matting-fast)": MaskMattingConfig(solver="guided-filter"),
    "closed-form (default)": MaskMattingConfig(),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--near", type=int, default=3)
    args = parser.parse_args()
    totals: dict[tuple[str, str], np.ndarray] = {}
    for clip in ensure_suite(args.suite, DEFAULT_DATA):
        with tempfile.TemporaryDirectory(prefix="vmat-split-") as folder:
            propagate_clip(clip, DEFAULT_PROPAGATOR, folder)
            for frame in clip:
                ids = read_id_mask(mask_path(folder, frame.index))
                for name, config in CONFIGS.items():
                    planes = None if config is None else MaskMattingDecomposer(config).decompose(
                        frame.image, ids, instance_ids=list(frame.instance_ids)
                    ).alpha[1:].numpy()
                    for k, instance in enumerate(frame.instance_ids):
                        mask = ids == instance
                        alpha = mask.astype(np.float32) if planes is None else planes[k]
                        error = np.abs(alpha - frame.alpha[k])
                        near = morph(mask, args.near) & ~morph(mask, -args.near)
                        row = totals.setdefault((clip.level, name), np.zeros(3))
                        row += (error[near].sum(), error[~near].sum(), 1)
    print(f"| level | alpha | near the outline (±{args.near} px) | farther | total |")
    print("|---|---|---|---|---|")
    for level in dict.fromkeys(level for level, _ in totals):
        for name in CONFIGS:
            near, far, count = totals[(level, name)]
            print(f"| {level} | {name} | {near / count:.0f} | {far / count:.0f} | {(near + far) / count:.0f} |")


if __name__ == "__main__":
    main()
