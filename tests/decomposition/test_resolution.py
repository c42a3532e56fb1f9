"""Processing below the source size: sizes, label-safe shrinking and bringing layers back up."""

import cv2
import numpy as np
import pytest
import torch

from vmat.decomposition import MaskMattingDecomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import enlarge, shrink_ids, shrink_image
from vmat.geometry import processing_size
from vmat.layers import LayerStack


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


def _small_stack_and_frame():
    """A 96x128 frame (vertical stripes, one disc 'person') and its layers at 48x64."""
    height, width = 96, 128
    ys, xs = np.mgrid[:height, :width]
    alpha = np.clip(12.5 - np.hypot(xs - 96.3, ys - 30.7), 0, 1)[..., None]
    ground = np.where((xs // 5) % 2 == 0, 40, 180)[..., None] * np.array([1.0, 0.8, 0.5])
    image = np.round(alpha * np.array([230.0, 60.0, 20.0]) + (1 - alpha) * ground).astype(np.uint8)
    size = processing_size(width, height, 64)
    ids = shrink_ids((alpha[..., 0] > 0.5).astype(np.uint16), size)
    stack = MaskMattingDecomposer().decompose(shrink_image(image, size), ids)
    return image, stack


def test_ground_that_completion_changed_comes_from_the_layers_not_the_frame():
    image, stack = _small_stack_and_frame()
    redrawn, relit = np.zeros((48, 64), bool), np.zeros((48, 64), bool)
    redrawn[30:42, 4:16] = True  # ground a matte missed, drawn from elsewhere: a flat red here
    relit[30:42, 24:40] = True  # a lifted shadow: the ground brightened by 0.2
    changed = stack.colour.clone()
    changed[0, :, redrawn] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    changed[0, :, relit] += 0.2
    changed_stack = LayerStack(changed, stack.alpha, stack.depth, stack.ids)
    full = image.astype(np.float32) / 255
    plain = upsample_layers(changed_stack, image).colour[0].permute(1, 2, 0).numpy()
    # Without the masks the ground the camera saw is the frame's: the change is lost.
    np.testing.assert_array_equal(plain[56:88, 4:84], full[56:88, 4:84])
    out = upsample_layers(changed_stack, image, redrawn=redrawn, relit=relit).colour[0].permute(1, 2, 0).numpy()
    # Inside each region (one small pixel in from its edge, where the blend's ramp ends): the flat colour, and the
    # frame's own stripes lifted by 0.2 (the layers hold the 8-bit shrunk frame: half a level either way).
    np.testing.assert_allclose(out[62:82, 10:30], np.broadcast_to([0.9, 0.1, 0.1], (20, 20, 3)), atol=1e-6)
    np.testing.assert_allclose(out[62:82, 50:78], full[62:82, 50:78] + 0.2, atol=0.5 / 255 + 1e-6)
    untouched = np.ones((96, 128), bool)
    untouched[56:88, 4:84] = False
    np.testing.assert_array_equal(out[untouched], plain[untouched])


def test_a_lifted_shadow_keeps_the_grounds_grain_but_not_a_bright_edge_it_took_in():
    """At the full size a lifted shadow gets back the frame's detail finer than the small layers hold, within
    the grain of the ground around it: a white sole's edge the shadow took in is not drawn again."""
    height, width = 96, 128
    rng = np.random.default_rng(3)
    image = np.clip(80 + rng.integers(-6, 7, (height, width, 1)) * np.array([1, 1, 1]), 0, 255).astype(np.uint8)
    image[40:50, 100:110] = (230, 60, 20)  # the person
    image[70, 60:72] = 250  # a white edge inside the shadow's region
    size = processing_size(width, height, 64)
    ids = np.zeros(size[::-1], np.uint16)
    ids[20:25, 50:55] = 1
    stack = MaskMattingDecomposer().decompose(shrink_image(image, size), ids)
    relit = np.zeros((48, 64), bool)
    relit[30:42, 24:40] = True
    lifted = stack.colour.clone()
    lifted[0, :, relit] += 0.1
    out = upsample_layers(LayerStack(lifted, stack.alpha, stack.depth, stack.ids), image, relit=relit).colour[0]
    out = out.permute(1, 2, 0).numpy()
    full = image.astype(np.float32) / 255
    whole = (slice(0, height), slice(0, width))
    small_frame = shrink_image(image, size).astype(np.float32) / 255
    small_background = lifted[0].permute(1, 2, 0).numpy()
    # Detail kept whole: the small background lifted, plus the frame less the small frame.
    kept_whole = (
        enlarge(small_background, size, (width, height), *whole) + full - enlarge(small_frame, size, (width, height), *whole)
    )
    ground = np.zeros((height, width), bool)
    ground[62:82, 50:78] = True  # the shadow one small pixel in from its edge (the blend's ramp) ...
    ground[66:75, 56:76] = False  # ... 4 px and more from the white edge
    # The grain is kept (the upsampler shrinks the frame in floats, the test in 8 bits: half a level either way).
    np.testing.assert_allclose(out[ground], np.clip(kept_whole[ground], 0, 1), atol=0.5 / 255 + 1e-6)
    assert (np.clip(kept_whole[70, 60:72], 0, 1) - out[70, 60:72]).mean() > 40 / 255  # the white edge is not
