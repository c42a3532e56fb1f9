"""The flow-warping error of a matte: exact where the flow is given, and with flow from the frames."""

import cv2
import numpy as np
import pytest

from vmat.metrics.temporal import frame_warp_error, source_flows, warp_error


def _textured(height=64, width=96, seed=0):
    # Smooth random texture: DIS finds its motion everywhere.
    noise = np.random.default_rng(seed).random((height // 4, width // 4, 3)).astype(np.float32)
    return (cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 255).astype(np.uint8)


def _disc_alpha(height=64, width=96, centre=(48, 32)):
    alpha = np.zeros((height, width), np.float32)
    cv2.circle(alpha, centre, 12, 1.0, -1)
    return cv2.GaussianBlur(alpha, (0, 0), 2.0)


def test_a_static_clip_with_a_static_alpha_scores_zero():
    image, alpha = _textured(), _disc_alpha()
    assert frame_warp_error(alpha, alpha, source_flows(image, image)) == 0.0
    assert warp_error(alpha, alpha, np.zeros((*alpha.shape, 2), np.float32)) == 0.0


def test_a_translation_with_the_matching_flow_scores_zero():
    previous = _disc_alpha(centre=(40, 30))
    current = _disc_alpha(centre=(45, 33))  # moved by (dx, dy) = (5, 3): p in t was at p - (5, 3) in t-1
    flow = np.zeros((*current.shape, 2), np.float32)
    flow[..., 0], flow[..., 1] = -5.0, -3.0
    assert warp_error(current, previous, flow) == pytest.approx(0.0, abs=1e-9)
    assert warp_error(current, previous, np.zeros_like(flow)) > 1.0  # without the motion it is an error


def test_a_flickering_alpha_gives_its_mean_squared_change_over_the_valid_pixels():
    previous = np.zeros((4, 5), np.float32)
    current = previous.copy()
    current[0, :] = 0.1  # 5 of 20 pixels change by 0.1
    current[3, 4] = 0.5
    valid = np.ones((4, 5), bool)
    valid[3, 4] = False  # ... and one, unseen in t-1 (occluded), changes by 0.5 and is not counted
    flow = np.zeros((4, 5, 2), np.float32)
    assert warp_error(current, previous, flow, valid) == pytest.approx(5 * 0.01 / 19 * 1e3)
    assert warp_error(current, previous, flow) == pytest.approx((5 * 0.01 + 0.25) / 20 * 1e3)
    assert warp_error(current, previous, flow, np.zeros((4, 5), bool)) == 0.0


def test_flow_from_the_frames_follows_a_moving_picture():
    # The picture and its matte move together by 4 px: the warp error is far below the no-motion error.
    base = _textured(80, 120, seed=1)
    shift = np.float32([[1, 0, 4], [0, 1, 0]])
    moved = cv2.warpAffine(base, shift, (120, 80), borderMode=cv2.BORDER_REFLECT)
    alpha = _disc_alpha(80, 120, centre=(60, 40))
    alpha_moved = cv2.warpAffine(alpha, shift, (120, 80))
    flows = source_flows(moved, base)
    moving = frame_warp_error(alpha_moved, alpha, flows)
    still = warp_error(alpha_moved, alpha, np.zeros((80, 120, 2), np.float32))
    assert moving < 0.1 * still
