"""Instance masks over time: prompts on any frame, a fallback people finder, propagation, id-mask export.

Id masks are ``(H, W)`` integer arrays, 0 = background, k = instance k for the whole clip, stored as one
PNG per frame (see :mod:`.idmask`). Prompts (:mod:`.prompts`) on a person become masks through the person
prior (:mod:`.person_prompt`), others by GrabCut; :class:`PriorPropagator` (default: optical flow fused with
the person prior) or the weight-free :class:`FlowPropagator` carries them through the clip; without
prompts the person detector finds the people (:mod:`.auto`); :func:`mask_clip` does a whole clip. Propagators are
registered by name (:mod:`.registry`), so benchmarks and commands can choose one with a string.
"""

from vmat.propagation.auto import PeopleFinderConfig, find_people, find_people_ids
from vmat.propagation.baselines import CopyPropagator, FarnebackConfig, FarnebackPropagator
from vmat.propagation.clip import MaskingConfig, MaskingSummary, mask_clip, propagate, video_frames, write_preview
from vmat.propagation.idmask import colourize, davis_palette, mask_path, read_id_mask, read_id_mask_folder, write_id_mask
from vmat.propagation.prompts import (
    Box,
    Click,
    FramePrompt,
    InstancePrompt,
    PromptError,
    Scribble,
    SegmentConfig,
    apply_prompt,
    load_prompts,
    prompt_rounds,
    segment_instance,
)
from vmat.propagation.prior import PriorPropagator, PriorPropagatorConfig, PriorState
from vmat.propagation.propagator import FlowPropagator, FlowPropagatorConfig, MaskPropagator, PropagationState
from vmat.propagation.registry import make_propagator, propagator_names, register_propagator

__all__ = [
    "Box",
    "Click",
    "CopyPropagator",
    "FarnebackConfig",
    "FarnebackPropagator",
    "FlowPropagator",
    "FlowPropagatorConfig",
    "FramePrompt",
    "InstancePrompt",
    "MaskPropagator",
    "MaskingConfig",
    "MaskingSummary",
    "PeopleFinderConfig",
    "PriorPropagator",
    "PriorPropagatorConfig",
    "PriorState",
    "PromptError",
    "PropagationState",
    "Scribble",
    "SegmentConfig",
    "apply_prompt",
    "colourize",
    "davis_palette",
    "find_people",
    "find_people_ids",
    "load_prompts",
    "make_propagator",
    "mask_clip",
    "mask_path",
    "prompt_rounds",
    "propagate",
    "propagator_names",
    "read_id_mask",
    "read_id_mask_folder",
    "register_propagator",
    "segment_instance",
    "video_frames",
    "write_id_mask",
    "write_preview",
]
