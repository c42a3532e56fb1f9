"""The whole clip's camera as completion estimates it (:func:`_track_camera`, ``tracking="tracker"``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vmat.camera import corner_error
from vmat.editing.completion import CompletionConfig, _track_camera, _View

WIDTH, HEIGHT, FRAMES = 160, 120, 10
MARGIN = 30  # the background image reaches this far past the frame on every side: room for the pans below


def clip(pan: tuple[int, int], seed: int = 0) -> list[_View]:
    """What completion keeps of a generated clip: a noise-textured background seen through a frame that
    moves ``pan`` pixels (x, y) per frame over it, and a square person walking right across it (not seen,
    with a margin)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((HEIGHT + 2 * MARGIN, WIDTH + 2 * MARGIN, 3)).astype(np.float32)
    background = cv2.GaussianBlur(noise, (0, 0), 1.5)
    background = np.round(255 * (background - background.min()) / (background.max() - background.min())).astype(np.uint8)
    views = []
    for t in range(FRAMES):
        top, left = MARGIN + pan[1] * t, MARGIN + pan[0] * t
        colour = background[top : top + HEIGHT, left : left + WIDTH].copy()
        person = np.zeros((HEIGHT, WIDTH), bool)
        person[40:100, 20 + 9 * t : 44 + 9 * t] = True
        colour[person] = (200, 60, 60)
        seen = cv2.dilate(person.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
        views.append(_View(colour, seen))
    return views


def test_a_static_clip_with_someone_walking_is_static_without_drift():
    """Features that did not move make the tracker's motion exactly the identity, so nothing accumulates:
    the clip is static even when no corner may move at all."""
    for tolerance in (CompletionConfig().static_tolerance, 0.0):
        camera, _, _ = _track_camera(clip((0, 0)), CompletionConfig(tracking="tracker", static_tolerance=tolerance))
        assert camera.static
        assert all(np.array_equal(h, np.eye(3)) for h in camera.to_canvas)


@pytest.mark.parametrize("pan", [(3, 1), (-1, 2)])
def test_a_pan_is_moving_and_its_motion_recovered(pan):
    """Frame ``t`` shows the background ``t * pan`` further on, so frame 0's pixel ``p`` is at
    ``p - t * pan`` in frame ``t``. Tolerance: 0.5 px at the frame's corners, on every frame of the clip
    (the motion is chained frame to frame). Measured on 5 seeds and 4 pans: at most 0.22 px; 0.5 is half
    ``static_tolerance`` (1 px) and a quarter of what the ring alignment of donors can still take up
    (``_ALIGN_SHIFT``, 2 px)."""
    camera, _, _ = _track_camera(clip(pan), CompletionConfig(tracking="tracker"))
    assert not camera.static
    for t in range(FRAMES):
        expected = np.array([[1.0, 0.0, -pan[0] * t], [0.0, 1.0, -pan[1] * t], [0.0, 0.0, 1.0]])
        assert corner_error(camera.motion(0, t), expected, WIDTH, HEIGHT) < 0.5
    # The canvas holds every frame of the pan.
    assert camera.canvas_size[0] >= WIDTH + abs(pan[0]) * (FRAMES - 1)
    assert camera.canvas_size[1] >= HEIGHT + abs(pan[1]) * (FRAMES - 1)
