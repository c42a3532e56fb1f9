"""The weight-free decomposer: a frame and its instance id mask -> a :class:`~vmat.layers.LayerStack`.

No learned weights: each person's hard mask becomes a soft matte in a band around its outline where it
meets the background. By default (``solver="closed-form"``) the band is a trimap's unknown region
(:mod:`vmat.matting.trimap`) and alpha there solves closed-form matting with a colour data term
(:mod:`vmat.matting`); ``solver="guided-filter"`` is the previous, cheaper path: the colour guided filter of
the mask in a narrow band. Outside the band the mask is trusted. Each person's straight foreground colour
comes from multi-level foreground estimation, and the background plane is the frame itself with the
estimated background colour in the soft edges. What no frame pixel shows (the background behind a person)
is left for background completion (:mod:`vmat.editing.completion`).

Where two people meet, the boundary is an occlusion edge and stays hard (only edges against the
background are softened), so neither person's colour is painted into the other. It is both the fallback
when no weights are available and the baseline the MP-Mat network must beat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch

from vmat.decomposition.foreground import estimate_foreground
from vmat.errors import ConfigError
from vmat.filters import guided_filter
from vmat.geometry import bounding_box
from vmat.layers import LayerStack
from vmat.matting import UNKNOWN, SolverConfig, TrimapConfig, solve_band, trimap_from_mask
from vmat.matting.solve import guided_upsample
from vmat.matting.trimap import band_pixels

SOLVERS = ("closed-form", "guided-filter")


@dataclass(frozen=True)
class MaskMattingConfig:
    """Sizes are fractions of the frame's longer side, so one config suits any resolution.

    ``solver`` picks the matte: ``"closed-form"`` uses ``trimap`` and ``matting`` (and ``radius``, ``eps`` for its
    guided-filter prior); ``"guided-filter"`` uses ``band``, ``radius``, ``eps`` and ``subsample``.
    """

    solver: Literal["closed-form", "guided-filter"] = "closed-form"
    trimap: TrimapConfig = field(default_factory=TrimapConfig)
    # Started from the guided filter's matte, one level of 20 steps does what three levels of 40 did from 0.5,
    # and the small pull towards that matte steadies alpha from frame to frame; the colour term decides where
    # the closed form alone leaks over textured backgrounds (docs/results/real_alpha.md).
    matting: SolverConfig = field(
        default_factory=lambda: SolverConfig(levels=1, iterations=20, prior_weight=0.02, colour_weight=1.0)
    )
    # Closed-form: the person is matted at the size where the band's narrow half-width is this many pixels
    # (never above the frame's size), so the cost follows the outline's length in band widths, not the resolution.
    band_pixels: float = 3.0
    # Closed-form: the guided filter's matte (radius and eps below) at the working size starts the band's solve
    # and is the prior that ``matting.prior_weight`` pulls alpha toward (False: start from the coarser levels only).
    guided_prior: bool = True
    band: float = 0.01  # guided filter: half-width of the uncertain band around each mask boundary
    radius: float = 0.01  # guided-filter window radius
    eps: float = 1e-3  # guided-filter regularisation: larger is smoother, smaller follows edges more
    subsample: int = 2  # guided-filter coefficients at 1/subsample resolution
    min_pixels: int = 2  # the band and radius never shrink below this

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise ConfigError(f"the mask-matting solver is one of {', '.join(SOLVERS)}, not {self.solver!r}.")

    def margin(self, longer_side: int) -> int:
        """Pixels around a person's mask that their matte can reach (and that its filters read)."""
        if self.solver == "guided-filter":
            return 2 * max(self.min_pixels, round(max(self.band, self.radius) * longer_side))
        return 2 * max(self.trimap.min_pixels, round(max(self.trimap.band, self.trimap.hair_band) * longer_side))


def _disc(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def soft_matte(
    image: np.ndarray,
    mask: np.ndarray,
    config: MaskMattingConfig = MaskMattingConfig(),
    others: np.ndarray | None = None,
    longer_side: int | None = None,
) -> np.ndarray:
    """One instance's soft matte ``(H, W)`` float32 in [0, 1] from its hard ``mask (H, W)`` bool.

    ``image`` is ``(H, W, 3)`` float32 in [0, 1]. Pixels farther than the band from the mask boundary keep the
    mask's value; inside the band the solver decides, but only where the person meets the
    background: ``others`` (bool, the other people's pixels) keep their hard value, because a boundary
    between two people is an occlusion edge, and softening it would paint one person into the other.
    ``longer_side``: the frame's longer side, which the config's fractions refer to when ``image`` is a crop
    of it (default: the image's own).
    """
    longest = longer_side or max(mask.shape)
    if config.solver == "closed-form":
        return person_layer(image, mask, config, others, longest)[0]
    band = max(config.min_pixels, round(config.band * longest))
    radius = max(config.min_pixels, round(config.radius * longest))
    hard = mask.astype(np.uint8)
    uncertain = cv2.dilate(hard, _disc(band)) > cv2.erode(hard, _disc(band))
    if others is not None and others.any():
        background = (~mask & ~others).astype(np.uint8)
        uncertain &= ~others & (cv2.dilate(background, _disc(band)) > 0)
    filtered = guided_filter(image, hard.astype(np.float32), radius, config.eps, config.subsample)
    return np.where(uncertain, np.clip(filtered, 0.0, 1.0), hard.astype(np.float32)).astype(np.float32)


def person_layer(
    image: np.ndarray,
    mask: np.ndarray,
    config: MaskMattingConfig = MaskMattingConfig(),
    others: np.ndarray | None = None,
    longer_side: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One person's ``(alpha (H, W), foreground (H, W, 3), background (H, W, 3))`` float32 from ``image (H, W, 3)``
    float32 in [0, 1] and their ``mask (H, W)`` bool (``others``, ``longer_side``: as :func:`soft_matte`).

    With the guided filter, all at full size. With the closed-form solver, the trimap, the band's alpha and the
    colours are made at the working size where the band's half-width is ``band_pixels``, then brought back:
    alpha by guided upsampling inside the band (the mask's value outside it), the colours enlarged and then
    corrected by the least change that makes ``alpha F + (1 - alpha) B`` the full-size image again.
    """
    longest = longer_side or max(mask.shape)
    if config.solver == "guided-filter":
        alpha = soft_matte(image, mask, config, others, longest)
        return (alpha, *estimate_foreground(image, alpha))
    height, width = mask.shape
    scale = min(1.0, config.band_pixels / max(band_pixels(mask, config.trimap, longest)[0], 1))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = size != (width, height)

    def shrink(pixels: np.ndarray) -> np.ndarray:
        return cv2.resize(pixels.astype(np.float32), size, interpolation=cv2.INTER_AREA) if small else pixels

    small_image = shrink(image)
    small_others = None if others is None else shrink(others) >= 0.5
    small_mask = shrink(mask) >= 0.5
    trimap = trimap_from_mask(small_mask, config.trimap, others=small_others, longer_side=round(longest * scale))
    band = band_pixels(small_mask, config.trimap, round(longest * scale))[0]
    prior = None
    if config.guided_prior:
        radius = max(1, round(config.radius * longest * scale))
        prior = np.clip(guided_filter(small_image, small_mask.astype(np.float32), radius, config.eps), 0.0, 1.0)
    small_alpha = solve_band(small_image, trimap, config.matting, prior, band)
    foreground, background = estimate_foreground(small_image, small_alpha)
    if not small:
        return small_alpha, foreground, background
    unknown = cv2.resize((trimap == UNKNOWN).astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0
    guided = guided_upsample(small_image, small_alpha, image, config.matting.upsample_radius, config.matting.upsample_eps)
    alpha = np.where(unknown, np.clip(guided, 0.0, 1.0), mask).astype(np.float32)
    return (alpha, *recompose_colours(image, alpha, foreground, background))


def recompose_colours(
    image: np.ndarray, alpha: np.ndarray, foreground: np.ndarray, background: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Colours ``foreground``, ``background`` estimated at a smaller size, enlarged to ``image (H, W, 3)``'s size
    and changed as little as possible (least squares) so that ``alpha F + (1 - alpha) B`` is ``image`` again
    (before clipping to [0, 1]): where alpha is 1, F is the image; where 0, B is."""
    height, width = alpha.shape
    foreground = cv2.resize(foreground, (width, height), interpolation=cv2.INTER_LINEAR)
    background = cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)
    a = alpha[..., None]
    residual = image - a * foreground - (1 - a) * background
    weight = residual / (a * a + (1 - a) * (1 - a))  # min |dF|^2 + |dB|^2 with a dF + (1 - a) dB = residual
    new_foreground = np.clip(foreground + a * weight, 0, 1).astype(np.float32)
    return new_foreground, np.clip(background + (1 - a) * weight, 0, 1).astype(np.float32)


def feet_depth(mask: np.ndarray) -> float:
    """A depth for a person from where their mask touches the ground: lower in the frame is nearer.

    Returns a value in [0, 1], larger = farther (``1 - lowest row / height``); used when no depth map is given.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    return 1.0 - float(rows[-1] + 1) / mask.shape[0]


def stack_planes(
    id_mask: np.ndarray, depth: np.ndarray | None, instance_ids: list[int] | None
) -> tuple[list[int], list[int], np.ndarray]:
    """What every decomposer's stack is made of, from a frame's ``id_mask (H, W)``.

    Returns the person ids of the stack's planes 1.. (``instance_ids``, or the mask's ids when ``None``), those
    present in this frame, and the ``(1 + len(ids),)`` float32 plane depths: the median of ``depth`` (larger =
    farther) under each present person (:func:`feet_depth` without a depth map), ``+inf`` for the background
    and for people out of view.
    """
    ids = list(instance_ids) if instance_ids is not None else sorted(int(i) for i in np.unique(id_mask) if i != 0)
    present = [instance for instance in ids if (id_mask == instance).any()]
    depths = np.full(1 + len(ids), np.inf, np.float32)
    for instance in present:
        mask = id_mask == instance
        depths[1 + ids.index(instance)] = float(np.median(depth[mask])) if depth is not None else feet_depth(mask)
    return ids, present, depths


class MaskMattingDecomposer:
    """Decompose frames into layers from instance id masks, without weights.

    ``decompose(image, id_mask, depth=None)`` takes ``image (H, W, 3)`` uint8 RGB, ``id_mask (H, W)`` integer
    instance ids (0 = background) and optionally ``depth (H, W)`` float (larger = farther); it returns a
    :class:`LayerStack` with one plane per id in ``instance_ids`` (absent ids get an empty plane, so a clip's
    stacks all have the same planes) or per id in the mask when ``instance_ids`` is ``None``.
    """

    def __init__(self, config: MaskMattingConfig = MaskMattingConfig()) -> None:
        self.config = config

    def decompose(
        self,
        image: np.ndarray,
        id_mask: np.ndarray,
        depth: np.ndarray | None = None,
        instance_ids: list[int] | None = None,
    ) -> LayerStack:
        rgb = image.astype(np.float32) / 255.0
        height, width = id_mask.shape
        ids, present, depths = stack_planes(id_mask, depth, instance_ids)
        planes = len(ids) + 1
        colour = np.zeros((planes, height, width, 3), np.float32)
        alpha = np.zeros((planes, height, width), np.float32)
        background = rgb.copy()
        alpha[0] = 1.0
        margin = self.config.margin(max(height, width))
        for instance in present:
            plane = 1 + ids.index(instance)
            mask = id_mask == instance
            rows, cols = bounding_box(mask, margin)
            others = (id_mask != 0) & ~mask
            own, foreground, behind = person_layer(
                rgb[rows, cols], mask[rows, cols], self.config, others[rows, cols], max(height, width)
            )
            alpha[plane, rows, cols] = own
            colour[plane, rows, cols] = foreground
            edge = (own > 0) & (own < 1)
            background[rows, cols][edge] = behind[edge]
        colour[0] = background
        return LayerStack(
            colour=torch.from_numpy(colour).permute(0, 3, 1, 2).contiguous(),
            alpha=torch.from_numpy(alpha),
            depth=torch.from_numpy(depths),
            ids=(0, *ids),
        )
