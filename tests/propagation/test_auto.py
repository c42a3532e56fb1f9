from __future__ import annotations

import cv2
import numpy as np

from tests.propagation.scenes import moving_scene, texture
from vmat.propagation.auto import (
    PeopleFinderConfig,
    align_to,
    detect_motion_blobs,
    detect_people_hog,
    find_people,
    hog_available,
    median_background,
)
from vmat.propagation.prompts import Box


def test_motion_blob_box_is_the_moving_rectangle():
    background = np.full((60, 80, 3), 100, np.uint8)
    image = background.copy()
    image[10:40, 20:35] = (200, 50, 50)
    assert detect_motion_blobs(image, background) == [Box(20, 10, 35, 40)]


def test_motion_blobs_ignore_small_noise():
    background = np.full((60, 80, 3), 100, np.uint8)
    image = background.copy()
    image[5:7, 5:7] = 255  # 4 px, under min_blob_fraction * 4800 = 9.6 px
    assert detect_motion_blobs(image, background) == []


def test_median_background_removes_a_moving_object():
    rng = np.random.default_rng(3)
    background = texture(rng, 80, 120, 40, 200, blur=1.0)
    frames = []
    for t in range(5):
        image = background.copy()
        image[20:50, 10 + 20 * t : 30 + 20 * t] = (255, 0, 0)
        frames.append(image)
    np.testing.assert_array_equal(median_background(frames), background)


def test_align_to_recovers_a_camera_shift():
    rng = np.random.default_rng(4)
    scene = texture(rng, 140, 220, 0, 255, blur=1.2)
    reference, shifted = scene[10:130, 10:210], scene[10:130, 16:216]  # camera moved 6 px right
    homography = align_to(reference, shifted)
    assert homography is not None
    corners = np.float32([[0, 0], [200, 0], [0, 120], [200, 120]]).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, homography)
    # Within half a pixel of the true 6 px shift everywhere in the frame.
    np.testing.assert_allclose(moved - corners, np.broadcast_to([[[6, 0]]], moved.shape), atol=0.5)


def test_find_people_boxes_the_mover_in_a_static_clip():
    frames = moving_scene(9, [(np.ones((40, 18), bool), (10, 20), (12, 0), (150, 0, 0))], size=(96, 160))
    images = [image for image, _ in frames]
    boxes = find_people(images, PeopleFinderConfig())
    truth = frames[0][1] == 1
    ys, xs = np.nonzero(truth)
    assert len(boxes) == 1
    box = boxes[0]
    # The blob's box is the sprite's box up to the texture's blurred edge.
    assert abs(box.x0 - xs.min()) <= 2 and abs(box.y0 - ys.min()) <= 2
    assert abs(box.x1 - (xs.max() + 1)) <= 2 and abs(box.y1 - (ys.max() + 1)) <= 2


def test_find_people_with_no_frames_finds_nobody():
    assert find_people([]) == []


def test_hog_detector_is_optional():
    image = np.zeros((128, 64, 3), np.uint8)
    if hog_available():
        assert isinstance(detect_people_hog(image), list)
    else:
        assert detect_people_hog(image) == []
    assert cv2.__version__  # the check above depends on the installed OpenCV, recorded in the report
