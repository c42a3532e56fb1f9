"""``vmat eval`` methods built from the pipeline's own stages (registered on import)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer
from vmat.evaluation.harness import id_map_from_alphas
from vmat.evaluation.methods import Method, MethodInput, MethodOutput, register_method


@register_method(
    "mask-matting",
    "the weight-free decomposer: guided-filter mattes around the guidance masks, multi-level foreground "
    "estimation, depth from the feet (options band, radius, eps as fractions of the frame size / GF eps)",
)
def make_mask_matting(band: float = MaskMattingConfig.band, radius: float = MaskMattingConfig.radius, eps: float = MaskMattingConfig.eps) -> Method:
    decomposer = MaskMattingDecomposer(MaskMattingConfig(band=band, radius=radius, eps=eps))

    def run(inputs: Iterable[MethodInput]) -> Iterator[MethodOutput]:
        for item in inputs:
            ids = list(range(1, len(item.instance_ids) + 1))
            id_map = id_map_from_alphas(item.guidance.astype(np.float32), ids)
            stack = decomposer.decompose(item.image, id_map, instance_ids=ids)
            weights = stack.weights()[1:].numpy()
            depth = stack.depth[1:].numpy().astype(np.float64)
            yield MethodOutput(alpha=weights, instance_depth=np.where(np.isfinite(depth), depth, np.nan))

    return run
