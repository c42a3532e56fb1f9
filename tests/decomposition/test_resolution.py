"""Processing below the source size: sizes, label-safe shrinking and bringing layers back up."""

import cv2
import numpy as np
import pytest

from vmat.decomposition import MaskMattingDecomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import shrink_ids, shrink_image
from vmat.geometry import processing_size


def test_shrinking_ids_never_invents_an_id():
    ids = np.zeros((97, 131), np.uint16)
    ids[10:60, 20:70] = 3
    ids[40:90, 50:120] = 7
    small = shrink_ids(ids, (64, 47))
    assert small.shape == (47, 64) and set(np.unique(small)) == {0, 3, 7}
    assert shrink_image(np.zeros((97, 131, 3), np.uint8), (64, 47)).shape == (47, 64, 3)


@pytest.fixture()
def scene():
    """A 97x131 frame: a soft-edged disc (a 'person', id 1) over a vertical-stripe texture, and its true alpha."""
    height, width = 97, 131
    ys, xs = np.mgrid[:height, :width]
    alpha = np.clip(30.5 - np.hypot(xs - 60.3, ys - 47.7), 0, 1).astype(np.float32)  # one-pixel soft edge
    background = np.where((xs // 6) % 2 == 0, 40, 200)[..., None] * np.array([1.0, 0.8, 0.5])
    person = np.array([230.0, 60.0, 20.0])
    image = np.round(alpha[..., None] * person + (1 - alpha[..., None]) * background).astype(np.uint8)
    return image, alpha


def test_upsampled_layers_follow_the_full_size_edges_better_than_enlarging(scene):
    image, alpha = scene
    size = processing_size(image.shape[1], image.shape[0], 64)
    small_image = shrink_image(image, size)
    small_ids = shrink_ids((alpha > 0.5).astype(np.uint16), size)
    stack = MaskMattingDecomposer().decompose(small_image, small_ids, instance_ids=[1])
    full = upsample_layers(stack, image)
    full.validate()
    assert (full.height, full.width) == image.shape[:2] and full.ids == stack.ids
    guided_error = np.abs(full.alpha[1].numpy() - alpha).sum()
    enlarged = cv2.resize(stack.alpha[1].numpy(), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    assert guided_error < 0.8 * np.abs(enlarged - alpha).sum()
    # Wherever a plane is what the camera saw, its colour is the full-size frame's pixel, bit for bit.
    weights = full.weights().numpy()
    colour = np.round(full.colour.permute(0, 2, 3, 1).numpy() * 255)
    for plane in range(2):
        opaque = weights[plane] >= 0.99
        assert opaque.sum() > 1000
        np.testing.assert_array_equal(colour[plane][opaque], image[opaque])


def test_layers_already_at_the_frame_size_are_returned_as_they_are(scene):
    image, alpha = scene
    stack = MaskMattingDecomposer().decompose(image, (alpha > 0.5).astype(np.uint16))
    assert upsample_layers(stack, image) is stack
