"""Attached shadows: find the shadow a person casts on the ground next to their feet, and lift it.

A shadow is the ground with less light on it: darker, with (nearly) the same chroma, and for the shadow
of a standing person, touching them where they meet the ground. Removing the person must remove it too,
or a dark shape stays behind with nobody to cast it (Omnimatte and its followers attach shadows to the
person's layer for this reason).

Detection looks at a window around the lower half of the person (a shadow lies on the ground beside or
behind them). The lit ground's brightness and chroma are estimated there by normalised convolution
over the pixels not (yet) taken for shadow, and a pixel is shadow when it is darker than that by at least
``darker_than`` with its chroma within ``chroma_tolerance``. Only connected regions touching the
person's feet count, and none that reaches the window's edge: that is the shade of a tree or a building,
which was there before the person and stays after them. A shadow on the ground starts at the feet, not
well above them (the side of a bed), and darkens the ground by a similar factor throughout (a dark object
beside lit ground varies far more) while keeping the ground's own variation (a clump of dark soil or a
darker tile, which the threshold cuts out of the ground's texture, varies far less). In a clip, ground
that other frames saw dark while the person was away is dark ground (a darker tile), not their shadow.
A dark stripe that runs on beyond the feet on both sides passes under them (a kerb, a joint): a cast
shadow runs away from the light, to one side.

Where the soles meet the ground there is a contact shadow: a thin dark line, much darker than a cast
shadow, that lies mostly inside the matte's soft edge, which the ground above leaves out. It is looked for
just below the soles (``contact`` of the person's height), against the ground right around it, and counts
only while it stays within that reach (a kerb crossing under the feet runs on). It darkens the ground too
unevenly for one transmittance, and is too thin to hold the ground's texture: it takes the colour of the
lit ground right around it.

Lifting brightens the shadowed ground to the lit ground's brightness (an affine map of it, median and
spread) and moves its colour (colour differences over the brightness) by the lit ground's minus the
shadow's, weighted by soft shadow mattes: the texture under the shadow is kept (nothing is painted over),
the penumbra fades out smoothly, and the colour shift follows the shadow's colour edge, which a video blurs
wider than its brightness edge. Brightening multiplies the sensor's noise too (a transmittance of 0.3 makes
it three times stronger than on the lit ground): the lifted ground's fine detail is brought back to the
lit ground's own level around it, band by band, so only the excess goes and the ground's texture stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import torch

from vmat.filters import normalised_convolution
from vmat.geometry import bounding_box, within
from vmat.layers.stack import LayerStack


@dataclass(frozen=True)
class ShadowConfig:
    """Settings for :func:`find_shadow` and :func:`lift_shadows`."""

    darker_than: float = 0.8
    """A shadow pixel has at most this fraction of the lit ground's brightness."""
    chroma_tolerance: float = 0.06
    """Largest difference of normalised chroma (r/(r+g+b), g/(r+g+b)) from the lit ground."""
    feet: float = 0.15
    """The lowest part of the person, as a fraction of their height, that counts as touching the ground."""
    reach: float = 1.2
    """How far the window reaches beside and below the person, as a fraction of their height."""
    evidence: float = 0.2
    """In a clip, a dark region is not a shadow when at least this fraction of it was seen by other frames
    with the person away and most of that was dark then too."""
    rise: float = 0.2
    """A shadow region starts no higher than this fraction of the person's height above their feet."""
    spread: float = 0.8
    """Largest spread (10th to 90th percentile) of a shadow's darkening, relative to its median."""
    texture: float = 0.5
    """Smallest spread of a shadow's darkening, as a fraction of the same spread of the ground's brightness
    around it (over the lit ground's): a shadow multiplies the ground, so it keeps the ground's variation
    (the threshold's cut can take up to about half of it), while a dark patch the threshold cuts out of the
    ground's own texture (a clump of soil, a darker tile) is a narrow band of it."""
    contact: float = 0.03
    """How far below the soles, as a fraction of the person's height, the dark line where they meet the
    ground (their contact shadow) is looked for, even inside their matte's soft edge; a dark region there
    counts only when it stays within this reach of the soles (a kerb or a joint crossing under the feet
    runs on far beyond them)."""
    gap: float = 0.03
    """How far from the feet, as a fraction of the person's height (at least 3 px), a cast shadow may begin: the
    ground right beside the soles lies under the matte's soft edge, where the plane holds a lighter guess, and a
    foot just lifted casts its shadow a little below it (DAVIS kite-walk, every other frame: his shadow is
    taken in 38 of 40 frames, against 31 with a 3 px reach)."""
    warmer: float = 0.01
    """Largest amount by which a cast shadow's blue share of the colour (b/(r+g+b), median) may fall short of
    the lit ground's. Under the sun, what still reaches a shadow is the sky's light, which is bluer: a shadow
    on the ground is bluer than the lit ground (DAVIS ``hike``'s gravel by 0.05-0.08, ``kite-walk``'s sand by
    0.02-0.04), and indoors it keeps the ground's chroma; a dark region warmer than the ground around it (a
    red-brown kerb beside grey asphalt: 0.02) is a dark thing, not a shadow."""
    min_height: int = 16
    """People shorter than this many pixels are not searched (too few pixels to tell ground from shadow)."""


def near_people(stack: LayerStack, instance_ids: Iterable[int], config: ShadowConfig = ShadowConfig()) -> np.ndarray:
    """``(H, W)`` bool: where the named people (those present) could cast a shadow in this frame: the
    box of each grown by ``reach`` of their height on every side (the farthest a shadow is searched)."""
    near = np.zeros((stack.height, stack.width), bool)
    for instance_id in instance_ids:
        if instance_id not in stack.ids:
            continue
        person = (stack.alpha[stack.index_of(instance_id)] > 0.5).cpu().numpy()
        if person.any():
            rows = np.flatnonzero(person.any(axis=1))
            near[bounding_box(person, int(config.reach * (rows[-1] - rows[0] + 1)) + 1)] = True
    return near


def _channel_sum(image: np.ndarray) -> np.ndarray:
    """``(h, w)``: the sum of an ``(h, w, 3)`` image's channels, in numpy's order (bit-identical to
    ``image.sum(axis=2)``, which reduces a 3-long axis pixel by pixel, several times slower)."""
    return image[..., 0] + image[..., 1] + image[..., 2]


def _gathered(image: np.ndarray) -> np.ndarray:
    """An ``(h, w, 3)`` image as a C-contiguous array (itself when it is one). A view of a planar tensor (a
    layer's colour, channels first) is gathered plane by plane by cv2.merge: the same values, several times
    faster than numpy's strided copy."""
    if image.flags.c_contiguous:
        return image
    if image.strides[1] == image.itemsize:
        return cv2.merge([image[..., channel] for channel in range(image.shape[2])])
    return np.ascontiguousarray(image)


def _is_cast_shadow(
    region: np.ndarray,
    ratio: np.ndarray,
    warmer: np.ndarray,
    top: int,
    feet_row: int,
    tall: int,
    config: ShadowConfig,
    away: tuple[np.ndarray, np.ndarray] | None,
    texture: float,
    graded: bool = False,
) -> bool:
    """Whether a dark region touching the feet looks like their cast shadow rather than a dark thing.

    ``region`` is the region's mask in its own box, ``ratio``, ``warmer`` (:class:`_Darkening`'s) and ``away``
    the same box's, ``top`` the box's top row in the window whose ``feet_row`` is given, ``texture`` the
    spread of the ground's darkening around it (10th to 90th percentile over the median); ``graded``: a
    contact shadow, which fades out below the soles, so its darkening may vary more than ``spread`` allows,
    and which is too dark and thin for its chroma to be measured.

    A shadow on the ground starts at the feet, not well above them (the side of a bed, a dresser); it
    darkens the ground by a similar factor throughout (a dark object next to lit ground varies much more),
    yet keeps the ground's own variation (a patch of dark texture varies far less); it is not warmer than
    the lit ground (``warmer``); and where other frames saw the same ground with the person away (``away``:
    its brightness over the lit ground's, and where it was seen), it was lit then.
    """
    if top < feet_row - config.rise * tall:
        return False
    low, middle, high = np.percentile(ratio[region], [10, 50, 90])
    if (not graded and (high - low) > config.spread * middle) or (high - low) < config.texture * texture * middle:
        return False
    if not graded and np.median(warmer[region]) > config.warmer:
        return False
    if away is not None:
        brightness, seen = away
        evidence = region & seen
        if (
            evidence.sum() >= config.evidence * region.sum()
            and (brightness[evidence] < (1.0 + config.darker_than) / 2).mean() > 0.5
        ):
            return False
    return True


class _Darkening(NamedTuple):
    """How dark each pixel of a search area is against the lit ground around it (see :func:`_darkening`)."""

    ratio: np.ndarray  # (h, w): brightness over the lit ground's
    lit_brightness: np.ndarray  # (h, w): the lit ground's brightness
    similar: np.ndarray  # (h, w) bool: the chroma is the lit ground's
    warmer: np.ndarray  # (h, w): the lit ground's blue share of the colour less this pixel's


@dataclass(frozen=True)
class _Window:
    """Where one person's shadow is searched (or a part of that), in its own pixels: what both passes read."""

    colour: np.ndarray  # (h, w, 3) float32
    brightness: np.ndarray  # (h, w) float32, of the colour smoothed
    chroma: np.ndarray  # (h, w, 2) float32, normalised r and g of the colour smoothed
    ground: np.ndarray  # (h, w) bool: nobody stands there (with a margin)
    away: tuple[np.ndarray, np.ndarray] | None  # find_shadow's ``away``, cut to the window
    feet_row: int  # the row just below the person's lowest
    tall: int  # the person's height in pixels

    def part(self, box: tuple[slice, slice]) -> _Window:
        """The same of ``box`` (window pixels), in that box's pixels."""
        away = None if self.away is None else (self.away[0][box], self.away[1][box])
        return _Window(
            self.colour[box],
            self.brightness[box],
            self.chroma[box],
            self.ground[box],
            away,
            self.feet_row - box[0].start,
            self.tall,
        )


class _Soles(NamedTuple):
    """Where a person's contact shadow is looked for, in the window's pixels."""

    under: np.ndarray  # (h, w) bool: the ground within ``depth`` below the soles (the feet's pixels with ground below)
    reach: tuple[slice, slice]  # the box a contact shadow stays within
    depth: int  # pixels, ``contact`` of the person's height


class _Shadow(NamedTuple):
    """One shadow :func:`_attached_shadow` found."""

    box: tuple[slice, slice]  # where its matte can be non-zero
    matte: np.ndarray  # (h, w) float32, the box's
    line: bool  # a contact shadow (filled, not lifted: see :func:`_fill_line`)


def _attached_shadow(
    background: np.ndarray,
    person: np.ndarray,
    people: np.ndarray,
    config: ShadowConfig,
    away: tuple[np.ndarray, np.ndarray] | None,
) -> list[_Shadow]:
    """:func:`find_shadow`'s mattes where they can be non-zero: for the cast shadow and for the contact
    shadow (each lifted on its own: the line under the soles is far darker), a box (frame pixels) around it
    and the matte there; empty when nothing was found. Everything is computed on the window searched."""
    rows = np.flatnonzero(person.any(axis=1))
    if rows.size == 0 or rows[-1] - rows[0] + 1 < config.min_height:
        return []
    cols = np.flatnonzero(person.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    tall = bottom - top
    height, width = person.shape
    reach = int(config.reach * tall)
    y0, y1 = top + tall // 2, min(height, bottom + reach // 2)
    x0, x1 = max(0, left - reach), min(width, right + reach)
    box = (slice(y0, y1), slice(x0, x1))
    colour = _gathered(background[box])  # the plane is often a strided view
    here = person[box]
    ground = ~cv2.dilate(people[box].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if ground.sum() < 64:
        return []
    smooth = cv2.GaussianBlur(colour, (0, 0), 1.5)
    total = _channel_sum(smooth)
    # Channel by channel into one array: the same quotients, a quarter of the broadcast division's time.
    chroma = np.empty(total.shape + (2,), np.float32)
    norm = np.maximum(total, 1e-4)
    for channel in range(2):
        np.divide(smooth[..., channel], norm, out=chroma[..., channel])
    window = _Window(
        colour, total / np.float32(3), chroma, ground, None if away is None else (away[0][box], away[1][box]), bottom - y0, tall
    )
    darkening = _darkening(window.brightness, chroma, ground, max(3.0, tall / 6), config)
    if darkening is None:
        return []
    shadow = ground & (darkening.ratio < config.darker_than) & darkening.similar
    _, labels, stats, _ = cv2.connectedComponentsWithStats(shadow.astype(np.uint8), connectivity=8)
    feet_rows = slice(max(0, bottom - max(2, int(config.feet * tall)) - y0), bottom - y0)
    feet = np.zeros(here.shape, bool)
    feet[feet_rows] = here[feet_rows]
    soles = _soles(feet, here, people[box], tall, config)
    # Cast shadows: the regions that touch the feet (within the gap) and stay inside the window (and beyond the
    # soles' reach).
    size = 2 * max(3, int(config.gap * tall)) + 1
    touching = np.unique(labels[cv2.dilate(feet.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool) & shadow])
    edges = [labels[0, :], labels[:, 0], labels[:, -1]] + ([labels[-1, :]] if y1 < height else [])
    cast = np.setdiff1d(touching[touching > 0], np.concatenate(edges))
    # A shadow starts at the feet and runs away from the light, to one side of them: a dark stripe that
    # runs on beyond them on both sides (a kerb, a joint, a crack) passes under them.
    feet_cols = np.flatnonzero(feet.any(axis=0))
    span = feet_cols[-1] + 1 - feet_cols[0]
    cast = cast[(stats[cast, 0] > feet_cols[0] - span) | (stats[cast, 0] + stats[cast, 2] < feet_cols[-1] + 1 + span)]
    cast = cast[~_within(soles.reach, cast, stats)]
    found = []
    taken = _judged(cast, labels, stats, window, darkening, config)
    if taken.any():
        found.append(_Shadow(*_matte(taken, colour, darkening.ratio, darkening.lit_brightness, ground), line=False))
    return _in_frame(found + _contact_shadow(window, soles, taken, config), y0, x0)


def _soles(feet: np.ndarray, here: np.ndarray, people: np.ndarray, tall: int, config: ShadowConfig) -> _Soles:
    """Where to look for the contact shadow of the person ``here`` (the window's ``(h, w)`` bool), whose
    lowest part is ``feet``; ``people``: everyone's pixels in the window."""
    # Under the soles (the feet's pixels with ground below them) the ground meets the person inside their
    # matte's soft edge, which the ground above leaves out. A region that stays within the contact reach of
    # the soles is one (a kerb or a joint crossing under the feet runs on beyond).
    depth = max(2, int(config.contact * tall))
    soles = feet.copy()
    soles[:-1] &= ~here[1:]
    under = cv2.dilate(soles.astype(np.uint8), np.ones((depth + 1, 2 * (depth // 2) + 1), np.uint8), anchor=(depth // 2, depth))
    under = under.astype(bool) & ~people
    reach = bounding_box(under, depth) if under.any() else (slice(0, 0), slice(0, 0))
    return _Soles(under, reach, depth)


def _within(box: tuple[slice, slice], labels: np.ndarray, stats: np.ndarray, top: int = 0, left: int = 0) -> np.ndarray:
    """Which of ``labels`` (with connectedComponentsWithStats' ``stats`` of a part of the window from
    ``top``, ``left``) lie inside ``box`` (window pixels)."""
    rows, cols = box
    left_, top_ = left + stats[labels, 0], top + stats[labels, 1]
    right_, bottom_ = left_ + stats[labels, 2], top_ + stats[labels, 3]
    return (left_ >= cols.start) & (right_ <= cols.stop) & (top_ >= rows.start) & (bottom_ <= rows.stop)


def _contact_shadow(window: _Window, soles: _Soles, taken: np.ndarray, config: ShadowConfig) -> list[_Shadow]:
    """The contact shadow's matte (a box in the window and the matte there), or none, beside the cast
    shadow already ``taken`` (the window's ``(h, w)`` bool)."""
    # The contact line is a few pixels thick, so it is measured against the ground right around it (the
    # wide estimate mixes the surfaces around the feet: gravel beside a lighter pavement reads as shadow),
    # less the ground the smoothing darkened next to any shadow (a thin one would hide in its own blur).
    # It darkens most at the soles and fades out below them, so its darkening may vary any amount.
    # All of it is done around the soles only: the lit ground three of its widths out, no farther.
    under = soles.under & ~taken
    if not under.any():
        return []
    near = bounding_box(under, 3 * soles.depth)
    part = window.part(near)
    darkening = _darkening(part.brightness, part.chroma, part.ground, float(soles.depth), config, apart=2)
    if darkening is None:
        return []
    free = (part.ground | under[near]) & ~taken[near]
    shadow = free & (darkening.ratio < config.darker_than) & darkening.similar
    _, labels, stats, _ = cv2.connectedComponentsWithStats(shadow.astype(np.uint8), connectivity=8)
    contact = np.unique(labels[under[near] & shadow])
    contact = contact[contact > 0]
    top, left = near[0].start, near[1].start
    found = _judged(contact[_within(soles.reach, contact, stats, top, left)], labels, stats, part, darkening, config, True)
    if not found.any():
        return []
    return _in_frame(
        [_Shadow(*_matte(found, part.colour, darkening.ratio, darkening.lit_brightness, free), line=True)], top, left
    )


def _in_frame(found: list[_Shadow], y0: int, x0: int) -> list[_Shadow]:
    """The shadows ``found`` in a window whose corner is at ``(y0, x0)``, their boxes in the pixels the window
    was cut from."""
    return [
        _Shadow((slice(y0 + rows.start, y0 + rows.stop), slice(x0 + cols.start, x0 + cols.stop)), matte, line)
        for (rows, cols), matte, line in found
    ]


def _darkening(
    brightness: np.ndarray, chroma: np.ndarray, ground: np.ndarray, sigma: float, config: ShadowConfig, apart: int = 0
) -> _Darkening | None:
    """The window's brightness over the lit ground's around each pixel (``sigma`` px), that lit brightness,
    and whether the chroma is the lit ground's; None when too little ground is lit. The lit ground is the
    ``ground`` not taken for shadow, nor within ``apart`` pixels of it, found twice over (the first guess
    darkens against the whole ground)."""
    if ground.sum() < 32:
        return None
    shadow = brightness < config.darker_than * np.median(brightness[ground])
    for _ in range(2):
        lit = ground & ~(
            cv2.dilate(shadow.astype(np.uint8), np.ones((2 * apart + 1,) * 2, np.uint8)).astype(bool) if apart else shadow
        )
        if lit.sum() < 32:
            return None
        (lit_brightness, lit_chroma), _ = normalised_convolution(lit, sigma, brightness, chroma, step=max(1, int(sigma // 4)))
        ratio = brightness / np.maximum(lit_brightness, 1e-4)
        off = np.abs(chroma - lit_chroma)
        similar = np.maximum(off[..., 0], off[..., 1]) < config.chroma_tolerance
        shadow = ground & (ratio < config.darker_than) & similar
    # Blue's share is 1 less red's and green's.
    warmer = chroma[..., 0] + chroma[..., 1] - lit_chroma[..., 0] - lit_chroma[..., 1]
    return _Darkening(ratio, lit_brightness, similar, warmer)


def _judged(
    candidates: np.ndarray,
    labels: np.ndarray,
    stats: np.ndarray,
    window: _Window,
    darkening: _Darkening,
    config: ShadowConfig,
    graded: bool = False,
) -> np.ndarray:
    """The ``window``'s ``(h, w)`` bool union of the ``candidates`` (labels of ``labels``, with
    connectedComponentsWithStats' ``stats``) that :func:`_is_cast_shadow` takes for a shadow (``graded``:
    however much its darkening varies)."""
    chosen = np.zeros(stats.shape[0], bool)
    if not candidates.size:
        return chosen[labels]
    ratio = darkening.ratio
    # The ground's variation: its darkening outside the candidates (sampled: percentiles settle fast).
    around = ratio[window.ground & ~np.isin(labels, candidates)][::4]
    low, middle, high = np.percentile(around, [10, 50, 90]) if around.size >= 64 else (1.0, 1.0, 1.0)
    texture = (high - low) / max(middle, 1e-4)
    for label in candidates:
        # Each region is judged in its own box (connectedComponentsWithStats' left, top, width, height).
        region_left, region_top, region_width, region_height = stats[label, :4]
        box = (slice(region_top, region_top + region_height), slice(region_left, region_left + region_width))
        region_away = None
        if window.away is not None:
            seen_colour = window.away[0][box]
            if seen_colour.dtype == np.uint8:
                seen_colour = seen_colour.astype(np.float32) / 255.0
            lit_ratio = _channel_sum(seen_colour) / np.float32(3) / np.maximum(darkening.lit_brightness[box], 1e-4)
            region_away = (lit_ratio, window.away[1][box])
        chosen[label] = _is_cast_shadow(
            labels[box] == label,
            ratio[box],
            darkening.warmer[box],
            region_top,
            window.feet_row,
            window.tall,
            config,
            region_away,
            texture,
            graded,
        )
    return chosen[labels]


def _matte(
    attached: np.ndarray, colour: np.ndarray, ratio: np.ndarray, lit_brightness: np.ndarray, free: np.ndarray
) -> tuple[tuple[slice, slice], np.ndarray]:
    """The soft matte of the ``attached`` shadow (a window's ``(h, w)`` bool) where it can be non-zero: a
    box in the window and the matte there. ``free``: where the ground may be in shadow.

    1 inside the shadow (bright stones in it were darkened as much as the rest); across its border, how
    much darker than the lit ground each pixel is, barely smoothed, so that lit pixels next to a hard
    shadow edge are not brightened. It is made only near the shadow (the border reaches 2 pixels out, the
    blur reads 3 more)."""
    near, read = bounding_box(attached, 3), bounding_box(attached, 6)
    core = float(np.median(ratio[attached]))
    blurred = cv2.GaussianBlur(colour[read], (0, 0), 0.7)[within(near, read)]
    fine = _channel_sum(blurred) / np.float32(3) / np.maximum(lit_brightness[near], 1e-4)
    strength = np.clip((1.0 - fine) / max(1.0 - core, 1e-3), 0.0, 1.0)
    shape = attached[near].astype(np.uint8)
    inside = cv2.erode(shape, np.ones((3, 3), np.uint8)).astype(bool)
    border = cv2.dilate(shape, np.ones((5, 5), np.uint8)).astype(bool) & free[near] & ~inside
    return near, np.where(inside, 1.0, np.where(border, strength, 0.0)).astype(np.float32, copy=False)


def find_shadow(
    background: np.ndarray,
    person: np.ndarray,
    people: np.ndarray,
    config: ShadowConfig = ShadowConfig(),
    away: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The soft matte of the shadow attached to one person.

    Args:
        background: ``(H, W, 3)`` float32 background colour in [0, 1].
        person: ``(H, W)`` bool, the person.
        people: ``(H, W)`` bool, everyone (their pixels are not ground).
        config: detection settings.
        away: ``(H, W, 3)`` colour (float32 in [0, 1], or uint8) and ``(H, W)`` bool validity of the ground
            as other frames saw it while the person was away from it: a region those frames saw dark too
            is dark ground (a darker tile, a patch of soil), not the person's shadow. Without it, or where
            no frame saw the ground with the person away (someone who stands still), this frame alone
            decides.

    Returns:
        ``(H, W)`` float32 in [0, 1]: how much of the shadow's darkening each pixel has (0 where none).
    """
    matte = np.zeros(person.shape, np.float32)
    for box, found, _ in _attached_shadow(background, person, people, config, away):
        matte[box] = np.maximum(matte[box], found)
    return matte


def lift_shadow(background: np.ndarray, matte: np.ndarray, ground: np.ndarray, *, line: bool = False) -> np.ndarray:
    """``background`` ``(H, W, 3)`` float32 with the shadow of ``matte`` lifted.

    The brightness is lifted, the colour shifted. Deep in the shadow the lit ground's brightness is an
    affine function of the shadowed one, ``l = a s + b`` (Shor and Lischinski, 2008): its median and its
    spread (10th to 90th percentile) are those of the ``ground`` pixels around the shadow. A plain ratio
    (``b = 0``) is the shadow's model on linear light; a video's tone curve compresses the sunlit ground's
    highlights (the hiker's gravel: texture 1.3-2 times the shadow's, brightness 1.8-3 times), so a ratio
    overshoots bright stones to white and leaves the dark gaps in the shadow's blue. ``a`` lies between 1 and
    the ratio (the ratio where too few pixels measure a spread). The colour, as colour differences over the
    brightness, is moved by the lit ground's minus the deep shadow's (medians); a pixel keeps its own
    departure from the shadow's colour only in the share of its lift that multiplies it, the offset being
    light added with the lit ground's colour (a near-black gap's sky blue is not amplified). A pixel ``matte`` deep into
    the shadow gets that much of the brightness's lift (penumbra included), and as much of the colour shift
    as :func:`_colour_matte` measures (a video's colour edge is wider than its brightness's: shifted with
    the brightness, the lit colour still at the shadow's edge turned into an orange rim). The lift
    multiplies the noise too, which :func:`_match_grain` brings back to the lit ground's level. A ``line``
    (a contact shadow) is filled instead (:func:`_fill_line`).
    """
    core = matte >= min(0.95, float(np.quantile(matte[matte > 0], 0.75))) if matte.any() else matte > 0
    around = (cv2.dilate((matte > 0).astype(np.uint8), np.ones((2 * _LIT_RING + 1,) * 2, np.uint8)) > 0) & (matte == 0) & ground
    if core.sum() < 8 or around.sum() < 8:
        return background
    if line:
        return _fill_line(background, matte, around)
    brightness, colour = _chromaticity(background)
    colour_matte = _colour_matte(colour, matte, ground, around)
    # The brightness is measured as the matte has it (its 1 is the core's darkening), the colour where the
    # shadow's colour is all there and the lit ground's untouched (given enough pixels).
    slope, offset = _affine(brightness[core], brightness[around])
    deep, lit = core & (colour_matte > 0.95), around & (colour_matte < 0.05)
    deep, lit = deep if deep.sum() >= _COLOUR_PIXELS else core, lit if lit.sum() >= _COLOUR_PIXELS else around
    # gain(m) (s + m b / a) undoes a penumbra that keeps 1 - m (1 - 1/a) of the light and m b / a of the offset.
    gain = 1.0 / (1.0 - matte * (1.0 - 1.0 / slope))
    with_offset = brightness + matte * (offset / slope)  # s + m b / a
    lifted = gain * with_offset
    floored = np.maximum(brightness, _DARKEST)
    lit_colour, deep_colour = np.median(colour[lit], axis=0), np.median(colour[deep], axis=0)
    # The affine map's offset is light added evenly, with the lit ground's colour: only the multiplied part
    # (b of gain (b + m offset / slope)) keeps a pixel's own departure from the shadow's colour. Scaled by
    # the whole lift instead, a dark gap's (noisy, skylight-blue) colour grew by up to its brightness's
    # ratio: blue blots and orange or green flecks across the hiker's lifted gravel.
    own = np.minimum(floored / np.maximum(with_offset, _DARKEST), 1.0)
    shifted = colour_matte[..., None] * lit_colour + own[..., None] * (colour - colour_matte[..., None] * deep_colour)
    opponent = np.concatenate([lifted[..., None], lifted[..., None] * shifted], axis=2)
    # The colour differences, and with them their noise, grow by the brightness's ratio (more than its slope).
    ratio = lifted / floored
    relit = _match_grain(opponent @ _FROM_OPPONENT.T, ratio, core, around & _clear_of(~ground | (matte > 0)))
    # What neither matte reaches is kept as it was, bit for bit (the round trip through the colour is not).
    touched = ((matte > 0) | (colour_matte > 0))[..., None]
    return np.where(touched, np.clip(relit, 0.0, 1.0), background).astype(np.float32, copy=False)


def _fill_line(background: np.ndarray, matte: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """``background`` with the thin shadow of ``matte`` brought to the colour of the ``lit`` ground around it
    (its mean within a few pixels), each pixel as far as the matte and its own darkness say.

    A contact shadow is a line a few pixels thick that darkens the ground unevenly: far more at the soles
    than a pixel away, so no one transmittance lifts it (woman_dog's still sole: the pixels beside the line's
    darkest row were lifted to white, the darkest stayed dark: a white-and-dark streak). Its pixels carry
    little of the ground's texture, so the lit ground's colour replaces them."""
    (lit_colour,), weight = normalised_convolution(lit, _LINE_REACH, background)
    # Only what is darker than that ground, and of its colour, is shadow (fully from 20% darker, and up to
    # 15% of its level off the lit colour darkened as much; none from twice that): a yellow flower in the
    # line stays. A pixel with no lit ground within reach stays too.
    lit_brightness, brightness = _channel_sum(lit_colour), _channel_sum(background)
    level = np.maximum(lit_brightness, 1e-4)
    darker = np.clip((lit_brightness - brightness) / (0.2 * level), 0.0, 1.0)
    off = np.abs(background - lit_colour * (brightness / level)[..., None]).max(axis=2) / (level / 3)
    alike = np.clip(2.0 - off / 0.15, 0.0, 1.0)
    reach = (matte * darker * alike * (weight > 1e-3))[..., None]
    return (background + reach * (lit_colour - background)).astype(np.float32, copy=False)


_LINE_REACH = 3.0  # px: the lit ground a contact line takes its colour from (the Gaussian's sigma)
_LIT_RING = 7  # px: the lit ground around a shadow that its lift is measured on
# px: a shadow is lifted in its matte's box grown by this much, which holds what decides the lift: the lit
# ring (_LIT_RING), the colour edge inside it (_COLOUR_REACH) and the lit colour a contact line takes (its
# Gaussian reads 4 sigma: 12 px). The grain match's 2-px band reads 3 px past it at the ring's outer pixels,
# mirrored at the box's edge: a wider box changes the lift of a cast shadow (the DAVIS hiker's, by 1e-5), so
# this number is part of the output.
_LIFT_MARGIN = round(4 * _LINE_REACH)


# The brightness's spread, and the colour's edge, are measured on at least this many shadowed and lit
# pixels (fewer, as in a contact line: the brightness's plain ratio, the colour shifted by the matte).
_AFFINE_PIXELS = 256
# A shadow's colour edge is measured from this far outside it (px) to its deep inside, from at least this many
# pixels deep inside and on the lit ground (a quarter of it at each distance).
_COLOUR_REACH = 6
_COLOUR_PIXELS = 128
# Colour differences over a brightness under this are noise: they are divided by this instead.
_DARKEST = 0.02


def _chromaticity(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The brightness ``(h, w)`` of an ``(h, w, 3)`` image and its two colour differences (:data:`_OPPONENT`)
    over it ``(h, w, 2)``: a shadow's colour, which a lift by the brightness alone keeps."""
    opponent = image @ _OPPONENT.T
    brightness = np.ascontiguousarray(opponent[..., 0])
    return brightness, opponent[..., 1:] / np.maximum(brightness, _DARKEST)[..., None]


def _affine(shadowed: np.ndarray, lit: np.ndarray) -> tuple[float, float]:
    """The slope and offset of ``l = a s + b`` from the brightness of ``shadowed`` ``(n,)`` to that of
    ``lit`` ``(m,)`` pixels: the medians agree, and the spreads as far as the slope stays between 1 and the
    plain ratio (the ratio alone, offset 0, where either has fewer than :data:`_AFFINE_PIXELS`)."""
    shadow_median, lit_median = float(np.median(shadowed)), float(np.median(lit))
    ratio = 1.0 / float(np.clip(shadow_median / max(lit_median, 1e-4), 0.25, 1.0))
    if len(shadowed) < _AFFINE_PIXELS or len(lit) < _AFFINE_PIXELS:
        return ratio, 0.0
    shadow_low, shadow_high = np.percentile(shadowed, [10, 90])
    lit_low, lit_high = np.percentile(lit, [10, 90])
    slope = float(np.clip((lit_high - lit_low) / max(shadow_high - shadow_low, 1e-4), 1.0, ratio))
    return slope, lit_median - slope * shadow_median


def _colour_matte(colour: np.ndarray, matte: np.ndarray, ground: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """``(h, w)``: how much of the shadow's colour shift each pixel of the ``ground`` has, by its distance from
    the shadow's edge (``matte`` at 0.5): measured on the pixels at each distance (where their median
    ``colour`` ``(h, w, 2)`` lies between the ``lit`` ground's and the deep shadow's, growing inwards). The
    shadow's colour edge is wider than its brightness's, and lopsided: on the hiker's gravel the shadow's
    blue reaches full strength only ~10 px in, while its brightness drops within 2 px (the camera's colour
    blur, light bounced off the lit stones). The ``matte`` itself where the shadow is too small to measure
    that."""
    shape = (matte >= 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(shape, cv2.DIST_L2, 5)
    distance = np.where(shape > 0, inside - 0.5, 0.5 - cv2.distanceTransform(1 - shape, cv2.DIST_L2, 5))
    deepest = float(np.percentile(inside[shape > 0], 75)) if shape.any() else 0.0
    deep = ground & (distance >= deepest)
    lit = lit & (distance <= -_COLOUR_REACH)
    if deep.sum() < _COLOUR_PIXELS or lit.sum() < _COLOUR_PIXELS:
        return matte
    lit_colour = np.median(colour[lit], axis=0)
    step = lit_colour - np.median(colour[deep], axis=0)
    if float(step @ step) < 1e-6:  # the same colour in and out: nothing to place
        return matte
    # Each ring (1 px of distance) gives its share at its pixels' mean distance; a ring with too few pixels
    # gives none.
    edges = np.arange(-_COLOUR_REACH, np.floor(deepest)) + 0.5
    centres, shares = [float(edges[0])], [0.0]
    # The pixels in reach, sorted by ring (one pass over the box, not one per ring).
    reached = ground & (distance >= edges[0]) & (distance < edges[-1])
    ring_of = np.floor(distance[reached] - edges[0]).astype(np.int64)
    order = np.argsort(ring_of, kind="stable")
    bounds = np.searchsorted(ring_of[order], np.arange(edges.size))
    near_distance, near_colour = distance[reached][order], colour[reached][order]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        if stop - start >= _COLOUR_PIXELS // 4:
            centres.append(float(near_distance[start:stop].mean()))
            shares.append(float((lit_colour - np.median(near_colour[start:stop], axis=0)) @ step / (step @ step)))
    share = np.maximum.accumulate(np.clip(np.array(shares + [1.0]), 0.0, 1.0))
    return np.interp(distance, np.array(centres + [max(deepest, centres[-1] + 0.5)]), share).astype(np.float32) * ground


# Luminance and two colour differences: the ground's texture is mostly in the first, while a sensor's (and a
# codec's) colour noise is in all three, so each is matched on its own.
_OPPONENT = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0.0, -1 / 2], [-1 / 4, 1 / 2, -1 / 4]], np.float32)
_FROM_OPPONENT = np.linalg.inv(_OPPONENT).astype(np.float32)
_GRAIN_SIGMAS = (1.0, 2.0)  # the bands matched: finer than 1 px, and 1-2 px (the codec's colour noise is 2 px wide)
# A band's power is measured on at least this many core and lit pixels: from n pixels it is off by about
# sqrt(2 / n) (18% here; 50% from 8), and the match only shrinks, so a low guess would smooth the lift.
_GRAIN_PIXELS = 64


def _clear_of(mask: np.ndarray) -> np.ndarray:
    """``(h, w)`` bool: the pixels whose band-pass responses (:data:`_GRAIN_SIGMAS`) do not read ``mask``."""
    reach = 2 * int(np.ceil(2 * max(_GRAIN_SIGMAS))) + 1
    return ~cv2.dilate(mask.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)


def _match_grain(lifted: np.ndarray, gain: np.ndarray, core: np.ndarray, lit: np.ndarray) -> np.ndarray:
    """``lifted`` ``(h, w, 3)`` (a shadow lifted ``gain`` ``(h, w)`` times brighter)
    with its fine detail brought back to the ``lit`` ground's level, in the shadow's ``core`` and, by the
    gain, through its penumbra.

    Lifting a shadow multiplies the sensor's noise as much as the ground's texture, so deep in
    a shadow the lifted ground is speckled. Each band of detail ``x`` is modelled as texture (variance T, as
    on the lit ground) plus noise (variance N on the lit ground, N g^2 where lifted by g): the lit ground has
    T + N, the lifted core T + N g_core^2, which gives both, and a pixel lifted by g has its band scaled to
    the lit ground's power, sqrt((T + N) / (T + N g^2)). A Wiener filter would take the lit ground's own
    noise away too, leaving the lifted patch smoother than the ground around it; this takes only the excess,
    and only shrinks (a band as quiet as the lit ground's, or quieter, is left alone).
    """
    # Only the bands that read the core alone: its edge (penumbra lifted by one transmittance) is no noise.
    core = core & _clear_of(~core)
    if core.sum() < _GRAIN_PIXELS or lit.sum() < _GRAIN_PIXELS:
        return lifted
    core_gain = float(np.median(gain[core]))
    if core_gain < 1.05:
        return lifted
    # (T + N g^2) - (T + N) = N (g^2 - 1): the excess grows with g^2 - 1, from 0 on the lit ground.
    growth = np.clip((np.square(gain) - 1.0) / (core_gain**2 - 1.0), 0.0, None)[..., None]
    opponent = lifted @ _OPPONENT.T
    correction = np.zeros_like(opponent)
    coarser: np.ndarray = opponent
    for sigma in _GRAIN_SIGMAS:
        finer, coarser = coarser, cv2.GaussianBlur(opponent, (0, 0), sigma)
        band = finer - coarser
        lit_power = np.mean(np.square(band[lit]), axis=0)
        excess = np.maximum(np.mean(np.square(band[core]), axis=0) - lit_power, 0.0)
        # The floor keeps a pixel the lift left alone (growth 0) as it is where the lit ground is flat in a
        # band (lit power 0: a flat colour, a grey ground's colour differences); it is far below any noise.
        keep = np.sqrt((lit_power + 1e-12) / (lit_power + excess * growth + 1e-12))
        correction += (1.0 - keep) * band
    return lifted - correction @ _FROM_OPPONENT.T


def lift_shadows(
    stack: LayerStack,
    instance_ids: Iterable[int],
    config: ShadowConfig = ShadowConfig(),
    away: tuple[np.ndarray, np.ndarray] | None = None,
    completed: bool = False,
) -> tuple[LayerStack, np.ndarray]:
    """The frame with the shadows of the named people (those present) lifted from its background plane;
    ``away`` as for :func:`find_shadow`. ``completed``: the plane has been completed under the named people,
    so their own pixels count as ground too (what other frames lent there may hold their shadow, seen where
    a foot was lifted).

    Returns:
        The new layers, and ``(H, W)`` bool: the pixels that changed.
    """
    instance_ids = tuple(instance_ids)
    background = stack.colour[0].permute(1, 2, 0).cpu().numpy()
    others = [plane for plane in range(1, len(stack.ids)) if not (completed and stack.ids[plane] in instance_ids)]
    people = (stack.alpha[others] > 0.5).any(0).cpu().numpy() if others else np.zeros(background.shape[:2], bool)
    height, width = people.shape
    changed = np.zeros(people.shape, bool)
    colour = None  # the new planes, made at the first change
    for instance_id in instance_ids:
        if instance_id not in stack.ids:
            continue
        person = (stack.alpha[stack.index_of(instance_id)] > 0.5).cpu().numpy()
        for window, window_matte, line in _attached_shadow(background, person, people, config, away):
            # Only the shadow's box changes (grown by what lift_shadow reads around it).
            tight = bounding_box(window_matte > 0)
            rows = slice(window[0].start + tight[0].start, window[0].start + tight[0].stop)
            cols = slice(window[1].start + tight[1].start, window[1].start + tight[1].stop)
            box = (
                slice(max(0, rows.start - _LIFT_MARGIN), min(height, rows.stop + _LIFT_MARGIN)),
                slice(max(0, cols.start - _LIFT_MARGIN), min(width, cols.stop + _LIFT_MARGIN)),
            )
            matte = np.zeros((box[0].stop - box[0].start, box[1].stop - box[1].start), np.float32)
            matte[within((rows, cols), box)] = window_matte[tight]
            crop = background[box]
            relit = lift_shadow(crop, matte, ~people[box], line=line)
            if relit is crop:
                continue
            changed[box] |= np.any(relit != crop, axis=2)
            if colour is None:
                colour = stack.colour.clone()
            plane = colour[0].permute(1, 2, 0)
            plane[box] = torch.from_numpy(relit).to(plane)
            background = plane.cpu().numpy()  # the next person's shadow is looked for in the lifted plane
    if colour is None or not changed.any():
        return stack, changed
    return stack.replace(colour=colour), changed
