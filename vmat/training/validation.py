"""Validation on real photographs: the real-alpha track's scores of weights saved during training.

The synthetic training loss says how well the network copies the generator; the real-alpha track
(:mod:`vmat.evaluation.real_alpha`) says how it does on real edges given a coarse mask, which is what a run
is kept for. Each image gets the track's seeded coarse mask, so every validation of a run sees the same input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# The score a run keeps its best weights by: the whole image's SAD, so holes inside the subject count, not
# only the edge band.
SELECT_BY = "sad"


def validate_mpmat(weights: Path, folder: Path, max_side: int = 512) -> dict[str, float]:
    """The mean real-alpha :data:`~vmat.evaluation.real_alpha.METRICS` of MP-Mat ``weights`` on ``folder``."""
    # Imported here: the evaluation package imports the pipeline, which imports the training package.
    from vmat.evaluation.real_alpha import METRICS, coarse_mask, list_real_alpha, load_real_alpha, run_on_image, score_alpha
    from vmat.evaluation.stage_methods import make_mpmat

    method = make_mpmat(checkpoint=str(weights), max_side=max_side)
    rows = []
    for name in list_real_alpha(folder):
        item = load_real_alpha(folder, name)
        rows.append(score_alpha(run_on_image(method, item.image, coarse_mask(item.alpha, name)), item.alpha, item.band))
    return {key: float(np.mean([row[key] for row in rows])) for key in METRICS}
