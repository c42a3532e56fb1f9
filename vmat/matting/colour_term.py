"""A colour data term for the band's solve: alpha read off the known colours nearby (sampling-based matting).

Closed-form matting only asks alpha to be locally affine in colour; where a window holds one colour it
leaves alpha undecided, and over a textured background (leaves, twigs, a trunk) it lets the known values
leak into half-transparent ghosts. Sampling methods (Robust matting, Wang and Cohen 2007; Shared matting,
Gastal and Oliveira 2010) add what the colours themselves say, as a per-pixel target alpha and a confidence:

- *A colour found on one side only.* Known pixels are sampled around each band pixel (16 directions at
  0.5 to 4 band half-widths). With ``s_B = exp(-d_B^2 / match^2)`` for the nearest background sample's colour
  distance ``d_B`` (``s_F`` likewise), the pixel is background with weight ``s_B (1 - s_F)`` and foreground
  with ``s_F (1 - s_B)``: a twig seen beside the head in the known background marks the same twig inside
  the band, while a colour both sides show decides nothing. Smooth in the colours, so it does not flip from
  frame to frame as a threshold would.
- *A mix.* With ``F`` and ``B`` the known foreground's and background's colours averaged around
  the pixel (a Gaussian of ``reach`` band half-widths, normalised convolution), the alpha that best explains
  the pixel's colour ``I`` is the projection ``(I - B) . (F - B) / |F - B|^2``, trusted as much as
  ``|F - B|^2 / (|F - B|^2 + contrast)`` (colours that barely differ say little) times
  ``exp(-|I - alpha F - (1 - alpha) B|^2 / fit^2)`` (a colour that is no mix of the two says nothing).

The target is the three's weighted mean and the confidence their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vmat.filters import normalised_convolution
from vmat.matting.trimap import UNKNOWN


@dataclass(frozen=True)
class ColourTermConfig:
    """Distances are in band half-widths; colours in [0, 1] RGB."""

    reach: float = 2.0  # the Gaussian sigma of the averaged F and B
    contrast: float = 0.01  # |F - B|^2 at which the mix's confidence is halved
    fit: float = 0.05  # how closely alpha F + (1 - alpha) B must reproduce the pixel
    match: float = 0.04  # colour distance (Euclidean) at which a sample stops counting as the same colour
    # Sampling radii and samples per radius: 16 directions and the half-widths between, not 8 directions at 1-4:
    # the thin twigs behind a head are found in the known background more often (a sixth less alpha outside
    # the juggler's mask) at the same real-alpha accuracy.
    samples: tuple[float, ...] = (0.5, 1, 1.5, 2, 3, 4)
    directions: int = 16


def known_colour(image: np.ndarray, known: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The Gaussian-weighted mean colour ``(H, W, 3)`` of ``image (H, W, 3)`` over the ``known (H, W)`` bool
    pixels around each pixel (``sigma`` px), and the known pixels' Gaussian weight ``(H, W)`` there (0: none
    within reach; the mean is then 0)."""
    (mean,), weight = normalised_convolution(known, sigma, image)
    return mean, weight


def sample_offsets(radii: list[int], directions: int) -> list[tuple[int, int]]:
    """The distinct ``(dy, dx)`` pixel offsets of ``directions`` samples on each of ``radii`` (px), every other
    radius turned by half a step (on small radii several directions round to one pixel)."""
    offsets = []
    for index, radius in enumerate(radii):
        for angle in (np.arange(directions) + 0.5 * (index % 2)) * 2 * np.pi / directions:
            offsets.append((int(round(radius * np.sin(angle))), int(round(radius * np.cos(angle)))))
    return [offset for offset in dict.fromkeys(offsets) if offset != (0, 0)]


def nearest_samples(
    image: np.ndarray, trimap: np.ndarray, ys: np.ndarray, xs: np.ndarray, radii: list[int], directions: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """``(background, foreground)``, each ``(N,)`` float32: the least squared colour distance from pixel
    ``(ys[n], xs[n])`` of ``image (H, W, 3)`` to the known background (``trimap`` 0), and to the known
    foreground (``trimap`` 1), among its samples (:func:`sample_offsets`); ``inf`` where no sample is known."""
    reach = max(radii)
    # Padding by the largest radius (as unknown) lets every sample be a flat index into the padded arrays,
    # and a side's distances are taken where the other side's pixels and unknown ones read +inf.
    padded = np.pad(image.astype(np.float32), ((reach, reach), (reach, reach), (0, 0))).reshape(-1, 3)
    side = np.pad(trimap, reach, constant_values=UNKNOWN).ravel()
    not_background = np.where(side == 0, 0.0, np.inf).astype(np.float32)
    not_foreground = np.where(side == 1, 0.0, np.inf).astype(np.float32)
    width = image.shape[1] + 2 * reach
    centre = (ys + reach) * width + xs + reach
    colour = padded[centre]
    background = np.full(ys.size, np.inf, np.float32)
    foreground = np.full(ys.size, np.inf, np.float32)
    for dy, dx in sample_offsets(radii, directions):
        sample = centre + (dy * width + dx)
        difference = colour - padded[sample]
        distance = np.einsum("nc,nc->n", difference, difference)
        np.minimum(background, distance + not_background[sample], out=background)
        np.minimum(foreground, distance + not_foreground[sample], out=foreground)
    return background, foreground


def colour_alpha(
    image: np.ndarray, trimap: np.ndarray, band: float, config: ColourTermConfig = ColourTermConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """``(target, confidence)`` ``(H, W)`` float32 of the colour term (module docstring) for ``image (H, W, 3)``
    float32 in [0, 1] and ``trimap (H, W)`` (0, :data:`UNKNOWN`, 1) whose band's half-width is ``band`` px;
    the confidence is 0 outside the unknown band."""
    unknown = trimap == UNKNOWN
    foreground, reach_f = known_colour(image, trimap == 1, max(1.0, config.reach * band))
    background, reach_b = known_colour(image, trimap == 0, max(1.0, config.reach * band))
    difference = foreground - background
    spread = (difference * difference).sum(-1)
    target = np.clip(((image - background) * difference).sum(-1) / np.maximum(spread, 1e-6), 0.0, 1.0)
    residual = image - background - target[..., None] * difference
    confidence = spread / (spread + config.contrast) * np.exp(-(residual * residual).sum(-1) / config.fit**2)
    confidence *= (reach_f > 1e-3) & (reach_b > 1e-3) & unknown

    ys, xs = np.nonzero(unknown)
    radii = sorted({max(1, round(band * k)) for k in config.samples})
    background_distance, foreground_distance = nearest_samples(image, trimap, ys, xs, radii, config.directions)
    # How surely a sample of each side has the pixel's colour; found on one side only, the pixel is that side.
    seen_b = np.exp(-background_distance / config.match**2)
    seen_f = np.exp(-foreground_distance / config.match**2)
    only_b, only_f = seen_b * (1 - seen_f), seen_f * (1 - seen_b)
    mix = confidence[ys, xs]
    total = mix + only_b + only_f
    target[ys, xs] = (mix * target[ys, xs] + only_f) / np.maximum(total, 1e-6)
    confidence[ys, xs] = total
    return target.astype(np.float32), confidence.astype(np.float32)
