"""The clean plate's sums on a moving camera's canvas (:meth:`_PlateSum.add_warped`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vmat.editing.completion import _PlateSum
from vmat.editing.warping import landing_box, warp

FRAME = (24, 32)  # height, width
CANVAS = (80, 60)  # width, height


def homography(angle: float, dx: float, dy: float, tilt: float = 0.0) -> np.ndarray:
    """Frame pixels -> canvas pixels: a turn by ``angle`` (radians), a shift and a slight perspective."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, dx], [s, c, dy], [tilt, 0.0, 1.0]])


MAPS = {
    "inside": homography(0.1, 20.3, 15.7),
    "perspective": homography(-0.2, 30.0, 10.0, tilt=0.002),
    "over the edge": homography(0.05, 65.5, -8.25),
}


@pytest.mark.parametrize("name", list(MAPS))
def test_sums_in_the_landing_box_equal_the_whole_canvas_warp(name: str) -> None:
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 256, (*FRAME, 3), dtype=np.uint8)
    seen = rng.random(FRAME) > 0.3
    to_canvas = MAPS[name]
    boxed = _PlateSum(*CANVAS)
    boxed.add_warped(colour, seen, to_canvas)
    boxed.add_warped(colour[::-1].copy(), seen[::-1].copy(), to_canvas)
    whole = _PlateSum(*CANVAS)
    for image, mask in ((colour, seen), (colour[::-1].copy(), seen[::-1].copy())):
        footprint = cv2.warpPerspective(np.ones(FRAME, np.uint8), to_canvas, CANVAS) > 0
        whole.add(*warp(image, mask, to_canvas, CANVAS), footprint)
    assert whole.count.any()
    np.testing.assert_array_equal(boxed.total, whole.total)
    np.testing.assert_array_equal(boxed.count, whole.count)
    np.testing.assert_array_equal(boxed.covered, whole.covered)


def test_landing_box_holds_every_pixel_the_frame_reaches_and_misses_the_canvas_off_it() -> None:
    for to_canvas in MAPS.values():
        box = landing_box(to_canvas, FRAME, CANVAS)
        assert box is not None
        rows, cols = box
        reached = cv2.warpPerspective(np.full(FRAME, 255, np.uint8), to_canvas, CANVAS) > 0
        outside = reached.copy()
        outside[rows, cols] = False
        assert reached[rows, cols].any() and not outside.any()
    assert landing_box(homography(0.0, 200.0, 0.0), FRAME, CANVAS) is None
