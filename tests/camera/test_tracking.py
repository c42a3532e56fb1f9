import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from vmat.camera import CameraTracker, TrackerConfig, corner_error, corner_shift, estimate_motion, rescale_homography


def world(height: int, width: int, seed: int) -> np.ndarray:
    """Smoothed 8-bit RGB noise: texture with trackable corners."""
    noise = gaussian_filter(np.random.default_rng(seed).random((height, width, 3)) * 255, (2.0, 2.0, 0))
    return ((noise - noise.min()) / (noise.max() - noise.min()) * 255).round().astype(np.uint8)


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def test_corner_shift_and_error_are_distances_of_the_corners():
    assert corner_shift(np.eye(3), 64, 48) == 0.0
    assert corner_shift(translation(3.0, -4.0), 64, 48) == pytest.approx(4.0)
    assert corner_error(translation(3.0, 0.0), translation(0.0, 4.0), 64, 48) == pytest.approx(5.0)


def test_rescaled_translation_scales_and_a_round_trip_is_the_identity():
    scaled = rescale_homography(translation(4.0, -2.0), 0.5)
    np.testing.assert_allclose(scaled, translation(2.0, -1.0), atol=1e-12)
    zoom = np.array([[1.1, 0.02, 3.0], [-0.01, 0.95, 1.0], [1e-4, 0.0, 1.0]])
    np.testing.assert_allclose(rescale_homography(rescale_homography(zoom, 0.4), 2.5), zoom, atol=1e-9)


@pytest.mark.parametrize("size", [None, 80])
def test_a_translating_camera_gives_the_translation_homography(size):
    scene = world(140, 220, seed=5)
    tracker = CameraTracker(TrackerConfig(size=size))
    views = [scene[10 + t : 10 + t + 96, 3 * t : 3 * t + 160] for t in range(12)]  # right 3 px, down 1 px a frame
    assert tracker.update(views[0]) is None
    for before, view in zip(views, views[1:]):
        motion = tracker.update(view)
        # The scene moves left and up in the image as the camera moves right and down.
        assert corner_error(motion, translation(-3.0, -1.0), 160, 96) < (0.05 if size is None else 0.15)
        assert (
            corner_error(estimate_motion(before, view, *(np.ones((96, 160), bool),) * 2), translation(-3.0, -1.0), 160, 96) < 0.05
        )


def test_people_outside_the_background_mask_do_not_drag_the_estimate():
    scene = world(120, 200, seed=6)
    patch = world(50, 40, seed=7)
    tracker = CameraTracker(TrackerConfig(size=None))
    for t in range(8):
        view = scene[10:106, 2 * t : 2 * t + 160].copy()
        x = 60 - 6 * t  # a textured person walking left, 4 px a frame against the scene
        view[30:80, x : x + 40] = patch
        background = np.ones(view.shape[:2], bool)
        background[28:82, x - 2 : x + 42] = False
        motion = tracker.update(view, background)
        if t:
            assert corner_error(motion, translation(-2.0, 0.0), 160, 96) < 0.05


def test_features_are_carried_between_frames_not_redetected(monkeypatch):
    scene = world(140, 260, seed=8)
    tracker = CameraTracker(TrackerConfig(size=None, max_features=200))
    detected = []
    real_detect = cv2.goodFeaturesToTrack

    def counting(*args, **kwargs):
        detected.append(1)
        return real_detect(*args, **kwargs)

    monkeypatch.setattr(cv2, "goodFeaturesToTrack", counting)
    for t in range(10):
        assert (tracker.update(scene[:96, 2 * t : 2 * t + 160]) is None) == (t == 0)
    assert len(detected) < 9  # the first pair detects; later pairs reuse what fitted


def test_first_frame_size_change_and_blank_frames_give_no_motion():
    tracker = CameraTracker()
    scene = world(100, 150, seed=9)
    assert tracker.update(scene) is None
    assert tracker.update(scene[:80, :120]) is None  # another size: a new clip
    assert tracker.update(np.full((80, 120, 3), 128, np.uint8)) is None  # nothing to track
    tracker.reset()
    assert tracker.update(scene[:80, :120]) is None


def test_a_still_camera_gives_the_identity_exactly():
    scene = world(96, 160, seed=10)
    noise = np.random.default_rng(0)
    tracker = CameraTracker()
    tracker.update(scene)
    for _ in range(5):
        # Sensor noise of a couple of levels moves no feature: the motion is exactly none.
        noisy = np.clip(scene.astype(int) + noise.integers(-2, 3, scene.shape), 0, 255).astype(np.uint8)
        assert np.array_equal(tracker.update(noisy), np.eye(3))
