"""The trimap's band on small subjects: the minimum width widens it outwards only."""

from __future__ import annotations

import numpy as np

from vmat.matting.trimap import UNKNOWN, TrimapConfig, inner_pixels, trimap_from_mask


def figure(height: int, width: int) -> np.ndarray:
    """A ``height`` x ``width`` upright rectangle from column 30, 10 px from the top and bottom."""
    mask = np.zeros((height + 20, width + 60), bool)
    mask[10 : 10 + height, 30 : 30 + width] = True
    return mask


def test_a_small_figure_keeps_known_foreground_down_its_middle():
    mask = figure(30, 6)  # 30 px tall: the height rule asks for a 1 px band, the floor for 3
    trimap = trimap_from_mask(mask)
    assert inner_pixels(mask, 3) == 1
    row = trimap[25, 26:38]
    # 3 px of band outside, 1 px inside, so 4 of the 6 columns stay known foreground on every inner row.
    assert row.tolist() == [0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1, 0.5, 0.5, 0.5]
    assert (trimap[11:39] == 1).sum(axis=1).min() == 4


def test_a_large_figure_gets_the_full_band_on_both_sides():
    mask = figure(400, 120)
    config = TrimapConfig(band=0.02, min_pixels=3)
    trimap = trimap_from_mask(mask, config)
    band = 8  # 0.02 of the height (400 px); 0.02 of the 420 px frame is more
    assert inner_pixels(mask, band, config) == band
    row = trimap[200]
    unknown = np.flatnonzero(row == UNKNOWN)
    assert unknown.min() == 30 - band and unknown.max() == 30 + 120 + band - 1
    assert (row == UNKNOWN).sum() == 4 * band
