"""The fast change maps give bit-identical results to the straightforward numpy form they replaced."""

import cv2
import numpy as np
import pytest

from vmat.temporal.flow_change import RESAMPLING_SIGMA, SLOW_CHANGE_SIGMA, ChangeTracker, camera_homography, flow_change_map
from vmat.temporal.fusion import frame_change_map


def _reference_frame_change(previous, current, threshold=12.0, grow=4):
    difference = cv2.absdiff(previous, current).max(axis=2) > threshold
    if grow > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        difference = cv2.dilate(difference.astype(np.uint8), kernel) > 0
    return difference


def _reference_warp(image, homography, size):
    return cv2.warpPerspective(image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _reference_smoothed(reference, current, sigma, threshold, grow):
    return _reference_frame_change(*(cv2.GaussianBlur(f, (0, 0), sigma) for f in (reference, current)), threshold, grow)


def _reference_consecutive(previous, current, homography, threshold, grow):
    if homography is None:
        return _reference_frame_change(previous, current, threshold, grow)
    size = (current.shape[1], current.shape[0])
    covered = cv2.warpPerspective(np.ones(current.shape[:2], np.uint8), homography, size, flags=cv2.INTER_NEAREST)
    covered = cv2.erode(covered, np.ones((3, 3), np.uint8)) > 0
    warped = _reference_warp(previous, homography, size)
    return _reference_smoothed(warped, current, RESAMPLING_SIGMA, threshold, grow) | ~covered


def _reference_tracker(images, homographies, threshold=12.0, grow=4):
    """The change tracker as it was: every warp and smoothing done afresh each frame."""
    previous = reference = None
    for image, homography in zip(images, homographies):
        if previous is None:
            previous, reference = image, image
            yield np.ones(image.shape[:2], bool)
            continue
        change = _reference_consecutive(previous, image, homography, threshold, grow)
        if homography is not None:
            reference = _reference_warp(reference, homography, image.shape[1::-1])
        change |= _reference_smoothed(reference, image, SLOW_CHANGE_SIGMA, threshold, grow)
        reference = np.where(change[..., None], image, reference)
        previous = image
        yield change


def _texture_frames(count=6):
    """A smooth random texture panned a pixel a frame, with a block moving across it."""
    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (120, 200, 3)).astype(np.uint8), (0, 0), 1.5)
    frames = []
    for t in range(count):
        frame = texture[10:100, 10 + t : 170 + t].copy()
        frame[30:60, 20 + 9 * t : 45 + 9 * t] = (200, 40, 90)
        frames.append(frame)
    return frames


def _juggle_frames(shared_dir, count=8):
    av = pytest.importorskip("av")
    path = shared_dir / "data" / "clips" / "juggle_static_720p.mp4"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            image = frame.to_ndarray(format="rgb24")
            frames.append(cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA))
            if len(frames) == count:
                break
    return frames


@pytest.mark.parametrize("threshold, grow", [(12.0, 4), (12.5, 0), (0.0, 1), (30.0, 2)])
def test_frame_change_map_matches_the_numpy_channel_max(threshold, grow):
    rng = np.random.default_rng(1)
    previous = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, previous.shape) * (rng.random(previous.shape) < 0.01)
    current = np.clip(previous.astype(int) + noise, 0, 255).astype(np.uint8)
    expected = _reference_frame_change(previous, current, threshold, grow)
    assert 0 < expected.sum() < expected.size
    assert np.array_equal(frame_change_map(previous, current, threshold, grow), expected)


def _homographies(count, kind):
    shift = np.array([[1.0, 0, -1], [0, 1, 0], [0, 0, 1]])
    if kind == "still":
        return [np.eye(3)] * count
    if kind == "none":
        return [None] * count
    return [np.eye(3), shift, np.eye(3), None, shift, np.eye(3), np.eye(3), shift][:count]


@pytest.mark.parametrize("kind", ["still", "none", "mixed"])
def test_the_tracker_matches_the_reference_on_texture(kind):
    frames = _texture_frames()
    homographies = _homographies(len(frames), kind)
    tracker = ChangeTracker()
    outputs = (tracker.update(f, h) for f, h in zip(frames, homographies))
    for got, expected in zip(outputs, _reference_tracker(frames, homographies)):
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("kind", ["still", "mixed"])
def test_the_tracker_matches_the_reference_on_real_frames(shared_dir, kind):
    frames = _juggle_frames(shared_dir)
    homographies = _homographies(len(frames), kind)
    tracker = ChangeTracker()
    outputs = [tracker.update(f, h) for f, h in zip(frames, homographies)]
    expected = list(_reference_tracker(frames, homographies))
    assert any(0.001 < e.mean() < 0.5 for e in expected[1:])  # the juggler moves: the maps are not trivial
    for got, want in zip(outputs, expected):
        assert np.array_equal(got, want)


def test_flow_change_map_matches_the_reference():
    frames = _texture_frames(3)
    homography = camera_homography(frames[0], frames[1])
    assert homography is not None
    expected = _reference_consecutive(frames[0], frames[1], homography, 12.0, 4)
    assert np.array_equal(flow_change_map(frames[0], frames[1]), expected)
