import cv2
import numpy as np

from vmat.temporal.flow_change import ChangeTracker, camera_homography, flow_change_map
from vmat.temporal.fusion import frame_change_map

SHIFT = 4


def _panned(shift=SHIFT):
    """Two crops of one smooth random texture, the camera moved ``shift`` px to the right."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (140, 200, 3)).astype(np.uint8), (0, 0), 2.0)
    texture = cv2.normalize(texture, None, 0, 255, cv2.NORM_MINMAX)
    return texture[20:117, 20:171].copy(), texture[20:117, 20 + shift : 171 + shift].copy()


def test_the_homography_of_a_pan_is_the_shift():
    previous, current = _panned()
    homography = camera_homography(previous, current)
    corners = np.float32([[[0, 0]], [[150, 0]], [[0, 96]], [[150, 96]], [[75, 48]]])
    moved = cv2.perspectiveTransform(corners, homography)
    # ECC alignment is sub-pixel, not exact: within 0.2 px over the frame.
    assert np.abs(moved - (corners - [SHIFT, 0])).max() < 0.2


def test_a_panning_camera_marks_only_the_revealed_strip():
    previous, current = _panned()
    assert frame_change_map(previous, current).mean() > 0.9  # plain differences: everything changed
    change = flow_change_map(previous, current, threshold=12, grow=4)
    # The right-hand strip the camera reveals (4 px, +1 px erosion, +4 px grown) is all that changes.
    assert change[:, -SHIFT:].all()
    assert not change[:, : -(SHIFT + 6)].any()


def test_a_person_moving_over_the_panned_scene_is_still_change():
    previous, current = _panned()
    current[40:60, 30:50] = (255, 0, 0)  # something moving against the scene
    change = flow_change_map(previous, current, threshold=12, grow=2)
    assert change[40:60, 30:50].all()
    assert change[:, : -(SHIFT + 6)].mean() < 0.05


def test_frames_without_features_fall_back_to_frame_differences():
    previous = np.zeros((30, 40, 3), np.uint8)
    current = previous.copy()
    current[10:12, 10:12] = 200
    assert camera_homography(previous, np.zeros_like(previous)) is None
    assert np.array_equal(flow_change_map(previous, current, 12, 1), frame_change_map(previous, current, 12, 1))


def test_large_frames_are_aligned_at_a_reduced_size_and_scaled_back():
    previous, current = _panned()
    big_previous, big_current = (cv2.resize(f, (604, 388), interpolation=cv2.INTER_CUBIC) for f in (previous, current))
    homography = camera_homography(big_previous, big_current)  # 604 px > 480: fitted at 480 px
    corners = np.float32([[[0, 0]], [[600, 0]], [[0, 384]], [[600, 384]]])
    moved = cv2.perspectiveTransform(corners, homography)
    # a 4 px pan at 151 px wide is 16 px at 604; 1 px is the accuracy expected after the x1.26 upscaling
    assert np.abs(moved - (corners - [4 * 604 / 151, 0])).max() < 1.0



def _grass(rng: np.random.Generator, width: int = 740) -> np.ndarray:
    """A 480 x ``width`` grass-like texture (detail down to a pixel) with some patches for features."""
    big = sum(
        cv2.resize(rng.normal(0, 1, (480 // s, width // s)), (width, 480), interpolation=cv2.INTER_CUBIC) for s in (1, 4, 16, 48)
    )
    big = np.repeat(np.clip(128 + 25 * big, 0, 255).astype(np.uint8)[..., None], 3, 2)
    for _ in range(12):
        x, y = (int(v) for v in rng.integers(0, (650, 420)))
        cv2.rectangle(big, (x, y), (x + 40, y + 30), tuple(int(v) for v in rng.integers(0, 255, 3)), -1)
    return big


def _shot(rng: np.random.Generator, big: np.ndarray, dx: int, dy: int = 0) -> np.ndarray:
    """A 178x119 shot of ``big`` by a camera moved (``dx``, ``dy``) / 4 px, with sensor noise."""
    frame = cv2.resize(big[dy : dy + 476, dx : dx + 712], (178, 119), interpolation=cv2.INTER_AREA)
    return np.clip(frame + rng.normal(0, 1.5, frame.shape), 0, 255).astype(np.uint8)


def test_a_sub_pixel_camera_shake_over_fine_texture_is_not_change():
    # A quarter-pixel shake changes nearly every pixel of fine texture; aligned and resampled, the sharp and
    # the bilinearly blurred frame still differed on 85% of it until both were smoothed alike.
    rng = np.random.default_rng(1)
    big = _grass(rng)
    previous, current = _shot(rng, big, 0), _shot(rng, big, 1)
    assert frame_change_map(previous, current, 12, 4).mean() > 0.9
    assert flow_change_map(previous, current, 12, 4).mean() < 0.1


def test_the_tracker_sees_slow_change_that_consecutive_frames_hide():
    # A region brightening by 8 grey levels a frame: under the threshold between neighbours, 16 after two.
    frames = [np.full((40, 50, 3), 100, np.uint8) for _ in range(5)]
    for t, frame in enumerate(frames):
        frame[10:30, 15:35] = 100 + 8 * t
    tracker = ChangeTracker(align=False, threshold=12, grow=0)
    changed = [bool(tracker.update(frame)[20, 25]) for frame in frames]
    assert changed == [True, False, True, False, True]  # each time 16 levels have gathered since the last change
    assert not any(frame_change_map(a, b, 12, 0)[20, 25] for a, b in zip(frames, frames[1:]))
    assert not tracker.update(frames[-1])[0, 0]  # the unchanged rest of the frame stays still


def test_a_tracker_carried_along_a_shaking_camera_does_not_drift_into_change():
    # 30 frames of fine texture from a tripod that shakes by up to half a pixel: the reference is warped
    # along every frame, and its resampling blur and alignment error must not read as change.
    rng = np.random.default_rng(2)
    big = _grass(rng)
    tracker = ChangeTracker(align=True, threshold=12, grow=4)
    changed = [tracker.update(_shot(rng, big, *(int(v) for v in rng.integers(0, 3, 2)))).mean() for _ in range(30)]
    assert max(changed[1:]) < 0.05


def test_a_new_frame_size_starts_the_tracker_afresh():
    tracker = ChangeTracker(align=False)
    tracker.update(np.zeros((10, 12, 3), np.uint8))
    assert not tracker.update(np.zeros((10, 12, 3), np.uint8)).any()
    assert tracker.update(np.zeros((8, 12, 3), np.uint8)).all()
