"""Colour matching for pixels copied into a frame: a per-channel gain, and gradient-domain (Poisson) blending.

A pixel copied from another frame, or from a clean plate averaged over the clip, was exposed differently
from the frame it lands in: auto-exposure, flicker, vignetting. :func:`gain_between` measures one gain per
channel where both pictures see the same background and applies it. :func:`poisson_membrane` blends a
region in the gradient domain (Pérez et al. 2003): the region keeps its own gradients and meets its
surroundings without a step, which is the same as adding to it the membrane, the smoothest (harmonic)
function equal to the surroundings' difference on its border.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import cv2
import numpy as np
import scipy.sparse as sparse
import scipy.sparse.linalg as sparse_linalg

from vmat.filters import normalised_convolution
from vmat.linalg import conjugate_gradients

_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))
_CG_TOLERANCE = 1e-5  # of the right side's norm (scipy's cg default, which these steps were first taken with)


def gain_of(
    reference: np.ndarray,
    donor: np.ndarray,
    where: np.ndarray,
    *,
    tolerance: float = 0.01,
    samples: int = 4096,
    keep: np.ndarray | None = None,
) -> np.ndarray | None:
    """The per-channel gain ``(3,)`` that best maps ``donor`` onto ``reference`` over ``where``, or ``None``
    when it is 1.

    The gain is the median of per-pixel ratios (robust to a few pixels of a person the masks missed), over
    at most ``samples`` evenly spread pixels. A channel within ``tolerance`` of ``keep`` (the gain a caller
    already applies, e.g. the previous frame's; ``None``: 1) keeps it: there the change is
    indistinguishable from noise, and following it would only make a picture flicker (or, for 1, cost
    precision in rounding). Fewer than 32 pixels measure nothing (``keep`` holds).

    Args:
        reference, donor: ``(H, W, 3)`` uint8.
        where: ``(H, W)`` bool, pixels both see.
        keep: ``(3,)`` or ``None``.
    """
    # Gathered by coordinates: the pictures may be crops, which a flat view would copy whole.
    ys, xs = np.nonzero(where)
    return gain_of_samples(reference[ys, xs], donor[ys, xs], tolerance=tolerance, samples=samples, keep=keep)


def gain_of_samples(
    reference: np.ndarray,
    donor: np.ndarray,
    *,
    tolerance: float = 0.01,
    samples: int = 4096,
    keep: np.ndarray | None = None,
) -> np.ndarray | None:
    """:func:`gain_of` from the ``(n, 3)`` uint8 values of the pixels both see, in any fixed order (for a
    caller that gathers the reference once for many donors)."""
    # Channel by channel (a reduction along a row of 3 values, or a median down a column, is numpy's slow
    # case): the same numbers, half the time; a frame measures a gain per donor.
    usable = np.flatnonzero(np.minimum(np.minimum(donor[:, 0], donor[:, 1]), donor[:, 2]) >= 8)
    if usable.size < 32:
        return keep
    usable = usable[:: max(1, usable.size // samples)]
    ratios = (reference[usable].astype(np.float32) + 0.5) / (donor[usable].astype(np.float32) + 0.5)
    gain = np.clip(np.median(ratios.T, axis=1), 0.5, 2.0)
    kept = np.ones(3, np.float32) if keep is None else keep
    gain = np.where(np.abs(gain - kept) < tolerance, kept, gain)
    return None if np.all(gain == 1.0) else gain


def apply_gain(colour: np.ndarray, gain: np.ndarray | None) -> np.ndarray:
    """uint8 ``colour`` ``(..., 3)`` times ``gain`` (unchanged for ``None``)."""
    if gain is None:
        return colour
    return np.clip(colour.astype(np.float32) * gain + 0.5, 0, 255).astype(np.uint8)


def gain_between(reference: np.ndarray, donor: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``donor`` ``(H, W, 3)`` uint8 corrected by :func:`gain_of` (``donor`` itself when the gain is 1)."""
    return apply_gain(donor, gain_of(reference, donor, where))


class _System(NamedTuple):
    """The linear system of :func:`_harmonic` for one mask of unknown pixels: what depends on the mask alone."""

    unknown: np.ndarray  # (H, W) bool, the mask it was made for
    matrix: sparse.csr_matrix  # (n, n): each unknown pixel's Laplacian over its unknown neighbours
    # Per step: the unknown pixels (their numbers) with a known neighbour there, and its rows and columns.
    known: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    factors: list[sparse_linalg.SuperLU]  # the matrix's LU factors once an exact solve asked for them


# The systems made last, by thread: a static camera's hole, and with it the seam blend's two masks (the
# coarse grid's and the refined band's), is often the last frame's (a third of the masks in the juggling
# clip's first 24 frames), and making a band's system (11 ms at 720p) and factoring the coarse one are a
# third of a seam blend's time.
_SYSTEMS = threading.local()
_KEPT_SYSTEMS = 4


def _system(unknown: np.ndarray) -> _System:
    """:class:`_System` for ``unknown`` ``(H, W)`` bool (with some pixels), made again only for a new mask."""
    kept: list[_System] = getattr(_SYSTEMS, "kept", [])
    for system in kept:
        if system.unknown.shape == unknown.shape and np.array_equal(system.unknown, unknown):
            return system
    count = int(unknown.sum())
    height, width = unknown.shape
    index = np.full(unknown.shape, -1, np.int64)
    index[unknown] = np.arange(count)
    ys, xs = np.nonzero(unknown)
    diagonal = np.zeros(count)
    rows, cols, known = [], [], []
    for dy, dx in _STEPS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        diagonal += inside
        ny, nx = ny[inside], nx[inside]
        neighbour = index[ny, nx]
        linked = neighbour >= 0
        rows.append(np.flatnonzero(inside)[linked])
        cols.append(neighbour[linked])
        known.append((np.flatnonzero(inside)[~linked], ny[~linked], nx[~linked]))
    rows.append(np.arange(count))
    cols.append(np.arange(count))
    data = np.concatenate([-np.ones(sum(len(r) for r in rows[:-1])), diagonal])
    matrix = sparse.csr_matrix((data, (np.concatenate(rows), np.concatenate(cols))), shape=(count, count))
    system = _System(unknown.copy(), matrix, known, [])
    _SYSTEMS.kept = [system] + kept[: _KEPT_SYSTEMS - 1]
    return system


def _harmonic(
    values: np.ndarray, unknown: np.ndarray, start: np.ndarray | None = None, iterations: int | None = None
) -> np.ndarray:
    """``values`` ``(H, W, C)`` with its ``unknown`` pixels replaced by the harmonic function that equals the
    known pixels around them (the image border is a mirror).

    Solved exactly (sparse LU), or with ``iterations`` conjugate-gradient steps from ``start``.
    """
    out = values.copy()
    if not unknown.any():
        return out
    system = _system(unknown)
    right = np.zeros((system.matrix.shape[0], values.shape[2]))
    for known, ny, nx in system.known:
        # A pixel has one neighbour per step, so no index repeats here: a plain add (np.add.at is slow).
        right[known] += values[ny, nx]
    if iterations is None:
        if not system.factors:
            system.factors.append(sparse_linalg.splu(system.matrix.tocsc()))
        solution = system.factors[0].solve(right)
    else:
        starts = start[unknown]
        solution = np.stack(
            [
                conjugate_gradients(system.matrix, right[:, c], starts[:, c], iterations=iterations, tolerance=_CG_TOLERANCE)[0]
                for c in range(values.shape[2])
            ],
            1,
        )
    out[unknown] = solution
    return out


def membrane(
    difference: np.ndarray, region: np.ndarray, *, coarse: int = 4, iterations: int = 40, band: int | None = None
) -> np.ndarray:
    """``difference`` ``(H, W, 3)`` float32 (read outside ``region``) with ``region`` replaced by the harmonic
    membrane that equals it on the region's border (a new array).

    Solved exactly on a grid ``coarse`` times smaller, then refined at full size by conjugate gradients
    (a two-level multigrid): the exact solve at full size costs a second for a person-sized region, this a
    few tens of milliseconds. With ``band``, only the pixels within ``band`` pixels of the region's border
    are refined and the rest keep the coarse solution (the membrane is smooth away from the border, where
    the coarse grid already has it): a few times cheaper again.
    """
    # One pass each, where a boolean gather and scatter make two (the same values).
    difference = np.where(region[..., None], np.zeros((), difference.dtype), difference)
    height, width = region.shape
    small = (max(1, width // coarse), max(1, height // coarse))
    # A coarse pixel is known only when no region pixel falls in its block.
    covered = cv2.resize(region.astype(np.float32), small, interpolation=cv2.INTER_AREA) > 0
    coarse_values = cv2.resize(difference, small, interpolation=cv2.INTER_AREA)
    if covered.all():  # nothing known at the coarse scale: start the refinement from zero
        rough = np.zeros_like(difference)
    else:
        rough = cv2.resize(_harmonic(coarse_values, covered), (width, height), interpolation=cv2.INTER_LINEAR)
    refined = region
    if band is not None:
        inner = cv2.erode(region.astype(np.uint8), np.ones((2 * band + 1,) * 2, np.uint8), borderType=cv2.BORDER_REPLICATE) > 0
        refined = region & ~inner
        np.copyto(difference, rough, where=inner[..., None])
    return _harmonic(difference, refined, start=rough, iterations=iterations)


def poisson_membrane(
    target: np.ndarray, source: np.ndarray, region: np.ndarray, *, coarse: int = 4, iterations: int = 40, band: int | None = None
) -> np.ndarray:
    """``source`` blended into ``target`` over ``region`` in the gradient domain.

    The result keeps ``source``'s gradients inside ``region`` and equals ``target`` just outside it: it is
    ``source`` plus the harmonic :func:`membrane` interpolating ``target - source`` from the region's border.

    Args:
        target: ``(H, W, 3)`` uint8, valid outside ``region``.
        source: ``(H, W, 3)`` uint8, valid everywhere.
        region: ``(H, W)`` bool.

    Returns:
        ``(H, W, 3)`` uint8: the blended source inside ``region`` (outside it, ``source``).
    """
    if not region.any():
        return source
    difference = target.astype(np.float32) - source.astype(np.float32)
    return add_inside(source, membrane(difference, region, coarse=coarse, iterations=iterations, band=band), region)


def add_inside(source: np.ndarray, correction: np.ndarray, region: np.ndarray) -> np.ndarray:
    """uint8 ``source`` ``(H, W, 3)`` plus the float ``correction`` inside ``region`` (rounded, clipped)."""
    blended = source.astype(np.float32)
    np.add(blended, correction, out=blended, where=region[..., None])  # in place: the same sums, no gathers
    blended += 0.5
    return np.clip(blended, 0, 255, out=blended).astype(np.uint8)


def seam_difference(target: np.ndarray, source: np.ndarray, region: np.ndarray, scale: float) -> np.ndarray:
    """``target - source`` ``(H, W, 3)`` float32 outside ``region``, low-passed by a Gaussian of ``scale``
    pixels over the pixels outside it (normalised convolution; inside ``region``: 0).

    What a seam blend should carry into the region is the colour difference of exposure, vignetting and
    lighting, which is smooth. A pixel's own difference also holds texture that the two pictures place a
    little differently (a resampled plate, chained homographies a pixel off, a matte's edge), and the
    pixels along a region's border change from frame to frame as the mask does: a membrane drawn through
    them spreads that texture into the region and makes it flicker.

    Args:
        target: ``(H, W, 3)`` uint8, valid outside ``region``.
        source: ``(H, W, 3)`` uint8.
        region: ``(H, W)`` bool.
    """
    outside = ~region
    (smooth,), _ = normalised_convolution(outside, scale, target.astype(np.float32) - source.astype(np.float32))
    return smooth * outside[..., None]


def held(measured: np.ndarray, carried: np.ndarray, known: np.ndarray, tolerance: float) -> np.ndarray:
    """``measured`` ``(H, W, C)``, except that a ``known`` ``(H, W)`` pixel whose ``carried`` value is within
    ``tolerance`` of it in every channel keeps that value (hysteresis: a change that small is noise)."""
    keep = known & (_largest(np.abs(measured - carried)) <= tolerance)
    return np.where(keep[..., None], carried, measured)


def _largest(values: np.ndarray) -> np.ndarray:
    """``(...)``: the largest of ``values`` ``(..., C)`` over its last axis, by np.maximum over the channels
    (numpy reduces a short last axis pixel by pixel, several times slower; a maximum is the same either way)."""
    largest = values[..., 0]
    for channel in range(1, values.shape[-1]):
        largest = np.maximum(largest, values[..., channel])
    return largest
