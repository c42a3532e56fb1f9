"""``vmat eval`` methods built from the pipeline's own stages (registered on import)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from fractions import Fraction

import numpy as np

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer, NetworkDecomposer
from vmat.decomposition.build import build_decomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.evaluation.harness import id_map_from_alphas
from vmat.evaluation.methods import Method, MethodInput, MethodOutput, register_method
from vmat.io.frame import Frame
from vmat.pipeline import FrameRecord, run_stages
from vmat.pipeline.stage import Stage
from vmat.pipeline.stages import DecomposeStage, ShrinkStage, TemporalStage
from vmat.temporal import FusionConfig


@register_method(
    "mask-matting",
    "the weight-free decomposer: guided-filter mattes around the guidance masks, multi-level foreground "
    "estimation, depth from the feet (options band, radius, eps as fractions of the frame size / GF eps; "
    "temporal=true adds forward-backward fusion with lookahead, tolerance; process_size=PIXELS decomposes with the "
    "longer side at most PIXELS and brings the layers back up with the full-size frame)",
)
def make_mask_matting(
    band: float = MaskMattingConfig.band,
    radius: float = MaskMattingConfig.radius,
    eps: float = MaskMattingConfig.eps,
    temporal: bool = False,
    lookahead: int = FusionConfig.lookahead,
    tolerance: float = FusionConfig.tolerance,
    process_size: int | None = None,
) -> Method:
    """With ``temporal`` the mattes go through the pipeline's temporal stage (forward-backward fusion)."""
    decomposer = MaskMattingDecomposer(MaskMattingConfig(band=band, radius=radius, eps=eps))
    return decomposer_method(decomposer, temporal=temporal, lookahead=lookahead, tolerance=tolerance, process_size=process_size)


@register_method(
    "mpmat",
    "the MP-Mat network (shipped small weights unless checkpoint=PATH), run with the longer side at most max_side; "
    "temporal, lookahead, tolerance and process_size as for mask-matting",
)
def make_mpmat(
    checkpoint: str | None = None,
    max_side: int = 512,
    temporal: bool = False,
    lookahead: int = FusionConfig.lookahead,
    tolerance: float = FusionConfig.tolerance,
    process_size: int | None = None,
) -> Method:
    decomposer = build_decomposer("mpmat", checkpoint=checkpoint, max_side=max_side)
    return decomposer_method(decomposer, temporal=temporal, lookahead=lookahead, tolerance=tolerance, process_size=process_size)


def decomposer_method(
    decomposer: MaskMattingDecomposer | NetworkDecomposer,
    *,
    temporal: bool = False,
    lookahead: int = FusionConfig.lookahead,
    tolerance: float = FusionConfig.tolerance,
    process_size: int | None = None,
) -> Method:
    """An eval method running the pipeline's stages with ``decomposer``: optional shrinking to ``process_size``,
    decomposition from the guidance masks, optional temporal fusion, layers brought back to the frame's size."""

    def run(inputs: Iterable[MethodInput]) -> Iterator[MethodOutput]:
        full_images: dict[int, np.ndarray] = {}  # the frames the stages hold, at full size

        def records() -> Iterator[FrameRecord]:
            for item in inputs:
                full_images[item.index] = item.image
                yield _record(item)

        stages: list[Stage] = [ShrinkStage(process_size)] if process_size is not None else []
        stages.append(_DecomposeFromGuidance(decomposer))
        if temporal:
            stages.append(TemporalStage(FusionConfig(lookahead=lookahead, tolerance=tolerance)))
        for record in run_stages(records(), stages, info=None, batch_size=1):
            stack = upsample_layers(record.layers, full_images.pop(record.index))
            depth = stack.depth[1:].numpy().astype(np.float64)
            yield MethodOutput(alpha=stack.weights()[1:].numpy(), instance_depth=np.where(np.isfinite(depth), depth, np.nan))

    return run


def _record(item: MethodInput) -> FrameRecord:
    ids = list(range(1, len(item.instance_ids) + 1))
    record = FrameRecord(Frame(item.index, item.image, item.index, Fraction(1, 1)))
    record.masks = id_map_from_alphas(item.guidance.astype(np.float32), ids)
    return record


class _DecomposeFromGuidance(DecomposeStage):
    """The decompose stage with a plane for every guidance mask, present in the frame or not, so that
    instance ``k`` of the output is always guidance mask ``k``."""

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            ids = list(range(1, int(record.masks.max(initial=0)) + 1))
            record.layers = self.decomposer.decompose(record.frame.image, record.masks, instance_ids=ids)
        return batch
