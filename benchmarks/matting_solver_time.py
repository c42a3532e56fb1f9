"""CPU seconds per image of vmat's closed-form layer against pymatting's solvers on the same trimap.

    python benchmarks/matting_solver_time.py ../shared/data/alpha/alphamatting GT01 GT13 GT25

Each image's seeded coarse mask (as `vmat eval --real-alpha` makes it) -> the default decomposer's trimap ->
pymatting's `estimate_alpha_cf`, `_knn`, `_lbdm` at full size, and vmat's `person_layer` (the default
decomposer's alpha *and* foreground/background colours, at its working size). Times are this process's
CPU seconds, one thread; each pymatting solver is run once beforehand so its JIT compilation is not counted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from vmat.decomposition import MaskMattingConfig
from vmat.decomposition.mask_matting import person_layer
from vmat.evaluation.real_alpha import coarse_mask, load_real_alpha
from vmat.matting import trimap_from_mask


def main() -> None:
    import pymatting

    folder, names = Path(sys.argv[1]), sys.argv[2:]
    solvers = {f"pymatting {name}": getattr(pymatting, f"estimate_alpha_{name}") for name in ("cf", "knn", "lbdm")}
    warm = np.random.default_rng(0).random((32, 32, 3))
    warm_trimap = np.full((32, 32), 0.5)
    warm_trimap[:8], warm_trimap[-8:] = 0.0, 1.0
    for solve in solvers.values():
        solve(warm, warm_trimap)
    seconds: dict[str, list[float]] = {"vmat person_layer (alpha + colours)": [], **{name: [] for name in solvers}}
    for name in names:
        item = load_real_alpha(folder, name)
        mask = coarse_mask(item.alpha, name)
        image = item.image.astype(np.float64) / 255
        trimap = trimap_from_mask(mask, MaskMattingConfig().trimap).astype(np.float64)
        start = time.process_time()
        person_layer(image.astype(np.float32), mask)
        seconds["vmat person_layer (alpha + colours)"].append(time.process_time() - start)
        for solver, solve in solvers.items():
            start = time.process_time()
            solve(image, trimap)
            seconds[solver].append(time.process_time() - start)
    print(f"{len(names)} images ({', '.join(names)}); CPU s per image")
    print("| method | CPU s/image |\n|---|---|")
    for method, values in seconds.items():
        print(f"| {method} | {np.mean(values):.2f} |")


if __name__ == "__main__":
    main()
