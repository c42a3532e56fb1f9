"""Where the guidance masks of ``vmat eval`` come from: what a user's pipeline would give the decomposer.

A decomposer scored with the exact outline of its answer (ground-truth alpha > 0) can score well by copying
it, so the default is what vmat itself would hand it:

- ``propagated`` (default): frame 0's ground-truth id map carried through the clip by vmat's own mask stage
  (a registered propagator of :mod:`vmat.propagation`, ``propagated:NAME``; default :data:`DEFAULT_PROPAGATOR`).
  As in DAVIS's semi-supervised protocol, only frame 0 is given: people who enter later have no mask, and
  those the propagator loses stay lost.
- ``perturbed``: each person's visible alpha through the faults of a user's or tracker's mask (Mask-guided
  Matting in the Wild sec. 4.2, MaGGIe 9.1): a threshold, dilation or erosion by up to 10% of the box's shorter
  side, holes, a coarse polygon outline, and a 0-2 px shift per frame (:data:`EVAL_PERTURBATION`). One
  draw per clip, seeded by ``(seed, crc32(clip name))``; per-frame shifts seeded by ``(seed, crc32, frame)``.
- ``exact``: ground-truth alpha > 0, an upper bound no user's mask reaches.

Propagated masks are computed once per clip and setting, written as id-mask PNGs to a temporary folder and
read back per frame, so every method of a run gets the same masks and memory does not grow with the clip.
"""

from __future__ import annotations

import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace

import numpy as np

from vmat.errors import ConfigError
from vmat.propagation import MaskingConfig, make_propagator, propagator_names
from vmat.propagation.idmask import mask_path, read_id_mask, write_id_mask
from vmat.synthetic.scene import SyntheticFrame
from vmat.synthetic.storage import SyntheticClip
from vmat.training.perturb import REALISTIC, draw_offsets, draw_perturbation, perturb_guidance

PROPAGATED, PERTURBED, EXACT = "propagated", "perturbed", "exact"
SETTINGS = (PROPAGATED, PERTURBED, EXACT)
DEFAULT_GUIDANCE = PROPAGATED
# The mask stage's own default (`vmat masks`, `vmat run`): "prior". On the synthetic suite's procedural
# people it still helps (standard suite J&F 0.775 against flow's 0.755, docs/results/evaluation.md).
DEFAULT_PROPAGATOR = MaskingConfig().propagator
# Every person keeps a mask: a dropped or merged one is a missing person, which the propagated setting
# already tests, and would swamp the matting scores here.
EVAL_PERTURBATION = replace(REALISTIC, drop_probability=0.0, merge_probability=0.0)

Guidance = Callable[[SyntheticFrame], np.ndarray]


def parse_guidance(spec: str) -> tuple[str, str | None]:
    """``"propagated[:NAME]"``, ``"perturbed"`` or ``"exact"`` -> ``(setting, propagator or None)``."""
    setting, _, propagator = spec.partition(":")
    if setting not in SETTINGS:
        raise ConfigError(f"unknown guidance {spec!r}: choose propagated[:PROPAGATOR], perturbed or exact.")
    if setting != PROPAGATED:
        if propagator:
            raise ConfigError(f"only propagated guidance takes a propagator, not {spec!r}.")
        return setting, None
    propagator = propagator or DEFAULT_PROPAGATOR
    if propagator not in propagator_names():
        raise ConfigError(f"unknown propagator {propagator!r} in {spec!r}: choose one of {', '.join(propagator_names())}.")
    return setting, propagator


def guidance_label(spec: str) -> str:
    """The name a table row gets: ``propagated (flow)``, ``perturbed``, ``exact (upper bound)``."""
    setting, propagator = parse_guidance(spec)
    return {PROPAGATED: f"propagated ({propagator})", PERTURBED: PERTURBED, EXACT: "exact (upper bound)"}[setting]


def masks_of_ids(ids: np.ndarray, instance_ids: list[int]) -> np.ndarray:
    """``(N, H, W)`` bool: mask ``k`` is where the id map holds ``instance_ids[k]``."""
    return np.stack([ids == i for i in instance_ids]) if instance_ids else np.zeros((0, *ids.shape), bool)


def exact_guidance(frame: SyntheticFrame) -> np.ndarray:
    return frame.alpha > 0


def perturbed_guidance(clip: SyntheticClip, seed: int = 0) -> Guidance:
    """Each frame's guidance under one seeded :data:`EVAL_PERTURBATION` draw for the clip."""
    key = zlib.crc32(clip.name.encode())
    perturbation = draw_perturbation(np.random.default_rng([seed, key]), len(clip.instance_ids), EVAL_PERTURBATION)

    def masks(frame: SyntheticFrame) -> np.ndarray:
        (offset,) = draw_offsets(np.random.default_rng([seed, key, frame.index]), 1, EVAL_PERTURBATION)
        return perturb_guidance(frame.alpha, perturbation, offset)

    return masks


def propagate_ids(images: Iterable[np.ndarray], first_ids: np.ndarray, propagator: str, folder) -> None:
    """``first_ids`` (the id map of the first of ``images``) carried through them by ``propagator``, as a user's
    mask stage would; one id-mask PNG per frame in ``folder`` (:func:`~vmat.propagation.idmask.mask_path`)."""
    model = make_propagator(propagator)
    state = None
    for index, image in enumerate(images):
        if state is None:
            ids = first_ids
            state = model.start(image, ids)
        else:
            ids, state = model.step(image, state)
        write_id_mask(mask_path(folder, index), ids)


def propagate_clip(clip: SyntheticClip, propagator: str, folder) -> None:
    """Frame 0's ground-truth id map carried through ``clip`` by ``propagator`` (:func:`propagate_ids`)."""
    propagate_ids((frame.image for frame in clip), clip.read_frame(0).id_map, propagator, folder)


@contextmanager
def clip_guidance(clip: SyntheticClip, spec: str, seed: int = 0) -> Iterator[Guidance]:
    """The guidance of ``clip`` under ``spec`` (see :func:`parse_guidance`) as ``frame -> (N, H, W) bool``,
    valid inside the ``with`` block (propagated masks live in a temporary folder until it ends)."""
    setting, propagator = parse_guidance(spec)
    if setting == EXACT:
        yield exact_guidance
    elif setting == PERTURBED:
        yield perturbed_guidance(clip, seed)
    else:
        assert propagator is not None  # parse_guidance always names one for propagated guidance
        with tempfile.TemporaryDirectory(prefix="vmat-guidance-") as folder:
            propagate_clip(clip, propagator, folder)
            yield lambda frame: masks_of_ids(read_id_mask(mask_path(folder, frame.index)), list(frame.instance_ids))
