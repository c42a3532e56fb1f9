"""``vmat eval`` methods built from the pipeline's own stages (registered on import)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import cv2
import numpy as np

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer, NetworkDecomposer
from vmat.decomposition.build import DECOMPOSERS, DEFAULT_DECOMPOSER, build_decomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.evaluation.harness import id_map_from_alphas
from vmat.evaluation.methods import METHODS, Method, MethodInput, MethodOutput, register_method
from vmat.io.frame import Frame
from vmat.pipeline import FrameRecord, run_stages
from vmat.pipeline.stage import Stage
from vmat.pipeline.stages import HOLD_WHERE_STILL, DecomposeStage, ShrinkStage, TemporalStage
from vmat.errors import ConfigError


_TEMPORAL_HELP = (
    "temporal=off|fusion|refiner (fusion: weight-free matte fusion; refiner: the learned Conv-GRU refiner then fusion, "
    "temporal_checkpoint=PATH or the shipped weights), fusion=none|forward|backward|both, "
    "change=frames|flow|predicted, soften=SIGMA (px fall-off of frames/flow change maps), lookahead (fusion), gru_lookahead, "
    "tolerance, blend=W (weight of the flow blend of moving edges, 0: off); jitter=R erodes or dilates each "
    "guidance mask by a seeded random 0-R px per frame, as propagated masks wander; process_size=PIXELS decomposes "
    "with the longer side at most PIXELS and brings the layers back up with the full-size frame"
)


@dataclass(frozen=True)
class PipelineOptions:
    """The options every pipeline-stage method takes besides its decomposer's."""

    temporal: str = "off"
    temporal_checkpoint: str | None = None
    # The temporal stage's settings default to the pipeline's (HOLD_WHERE_STILL).
    fusion: str = HOLD_WHERE_STILL.fusion
    change: str = HOLD_WHERE_STILL.change
    lookahead: int = HOLD_WHERE_STILL.fusion_lookahead
    gru_lookahead: int = HOLD_WHERE_STILL.gru_lookahead
    tolerance: float = HOLD_WHERE_STILL.tolerance
    soften: float = HOLD_WHERE_STILL.change_soften
    blend: float = HOLD_WHERE_STILL.flow_blend
    jitter: int = 0
    process_size: int | None = None

    def temporal_stage(self) -> TemporalStage | None:
        if self.temporal == "off":
            return None
        config = replace(
            HOLD_WHERE_STILL, gru_lookahead=self.gru_lookahead, fusion=self.fusion, fusion_lookahead=self.lookahead,
            tolerance=self.tolerance, change=self.change, change_soften=self.soften,
            flow_blend=self.blend,
        )
        return TemporalStage.build(self.temporal, self.temporal_checkpoint, config)


@register_method(
    "mask-matting",
    "the weight-free decomposer: closed-form mattes in a trimap band around the guidance masks (solver=guided-filter: "
    "the previous guided-filter mattes, options band, radius, eps as fractions of the frame size / GF eps), multi-level "
    "foreground estimation, depth from the feet; " + _TEMPORAL_HELP,
)
def make_mask_matting(
    solver: str = MaskMattingConfig.solver,
    band: float = MaskMattingConfig.band,
    radius: float = MaskMattingConfig.radius,
    eps: float = MaskMattingConfig.eps,
    **options,
) -> Method:
    decomposer = MaskMattingDecomposer(MaskMattingConfig(solver=solver, band=band, radius=radius, eps=eps))
    return decomposer_method(decomposer, PipelineOptions(**options))


@register_method(
    "mpmat",
    "the MP-Mat network (shipped small weights unless checkpoint=PATH), run with the longer side at most max_side; "
    + _TEMPORAL_HELP,
)
def make_mpmat(checkpoint: str | None = None, max_side: int = 512, **options) -> Method:
    decomposer = build_decomposer("mpmat", checkpoint=checkpoint, max_side=max_side)
    return decomposer_method(decomposer, PipelineOptions(**options))


DEFAULT = "default"


@register_method(
    DEFAULT,
    f"vmat's default decomposer (vmat.decomposition.build.DEFAULT_DECOMPOSER, today {DEFAULT_DECOMPOSER}) with its default "
    "settings; " + _TEMPORAL_HELP,
)
def make_default(**options) -> Method:
    return decomposer_method(build_decomposer(DEFAULT_DECOMPOSER), PipelineOptions(**options))


def _register_other_decomposers() -> None:
    """Every decomposer :func:`build_decomposer` knows is an eval method, under its own name, even before it
    has a method with its own options here."""
    for name in DECOMPOSERS:
        if name not in METHODS:
            register_method(name, f"the {name} decomposer with its default settings; " + _TEMPORAL_HELP)(
                lambda name=name, **options: decomposer_method(build_decomposer(name), PipelineOptions(**options))
            )


def decomposer_method(
    decomposer: MaskMattingDecomposer | NetworkDecomposer, options: PipelineOptions = PipelineOptions()
) -> Method:
    """An eval method running the pipeline's stages with ``decomposer``: optional shrinking to the processing
    size, decomposition from the (optionally jittered) guidance masks, optional temporal stage, layers brought
    back to the frame's size."""
    if options.jitter < 0:
        raise ConfigError(f"the guidance jitter must be 0 or more pixels, not {options.jitter}")
    temporal = options.temporal_stage()  # built once: a bad option fails before any clip

    def run(inputs: Iterable[MethodInput]) -> Iterator[MethodOutput]:
        full_images: dict[int, np.ndarray] = {}  # the frames the stages hold, at full size

        def records() -> Iterator[FrameRecord]:
            for item in inputs:
                full_images[item.index] = item.image
                yield _record(item, options.jitter)

        stages: list[Stage] = [ShrinkStage(options.process_size)] if options.process_size is not None else []
        stages.append(_DecomposeFromGuidance(decomposer))
        if temporal is not None:
            stages.append(temporal)
        for record in run_stages(records(), stages, info=None, batch_size=1):
            stack = upsample_layers(record.layers, full_images.pop(record.index))
            depth = stack.depth[1:].numpy().astype(np.float64)
            yield MethodOutput(alpha=stack.weights()[1:].numpy(), instance_depth=np.where(np.isfinite(depth), depth, np.nan))

    return run


def jitter_guidance(guidance: np.ndarray, index: int, radius: int) -> np.ndarray:
    """``guidance`` ``(N, H, W)`` bool with mask ``k`` eroded (negative) or dilated by a radius drawn from
    ``[-radius, radius]`` with seed ``(index, k)``."""
    out = guidance.copy()
    for k, mask in enumerate(guidance):
        step = int(np.random.default_rng((index, k)).integers(-radius, radius + 1))
        if step:
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(step) + 1, 2 * abs(step) + 1))
            morph = cv2.dilate if step > 0 else cv2.erode
            out[k] = morph(mask.astype(np.uint8), disc) > 0
    return out


def _record(item: MethodInput, jitter: int) -> FrameRecord:
    ids = list(range(1, len(item.instance_ids) + 1))
    guidance = jitter_guidance(item.guidance, item.index, jitter) if jitter else item.guidance
    record = FrameRecord(Frame(item.index, item.image, item.index, Fraction(1, 1)))
    record.masks = id_map_from_alphas(guidance.astype(np.float32), ids)
    return record


class _DecomposeFromGuidance(DecomposeStage):
    """The decompose stage with a plane for every guidance mask, present in the frame or not, so that
    instance ``k`` of the output is always guidance mask ``k``."""

    def process(self, batch: list[FrameRecord]) -> list[FrameRecord]:
        for record in batch:
            ids = list(range(1, int(record.masks.max(initial=0)) + 1))
            record.layers = self.decomposer.decompose(record.frame.image, record.masks, instance_ids=ids)
        return batch


_register_other_decomposers()
