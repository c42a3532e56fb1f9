"""Upsampling skips the colour of the planes the edits drop, and the edited frames stay exactly the same."""

import numpy as np
import pytest

from vmat.decomposition import MaskMattingDecomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import shrink_ids, shrink_image
from vmat.geometry import processing_size
from vmat.pipeline.edits import EditSpec, apply_edits


def _two_people():
    """A 97x131 striped frame with two overlapping soft discs (ids 1 and 2), and its id map."""
    height, width = 97, 131
    ys, xs = np.mgrid[:height, :width]
    image = np.where((xs // 6) % 2 == 0, 40, 200)[..., None] * np.array([1.0, 0.8, 0.5])
    ids = np.zeros((height, width), np.uint16)
    for instance, (x, y, colour) in enumerate([(50.3, 47.7, (230, 60, 20)), (80.6, 40.2, (20, 90, 230))], start=1):
        alpha = np.clip(25.5 - np.hypot(xs - x, ys - y), 0, 1)[..., None]
        image = alpha * np.array(colour) + (1 - alpha) * image
        ids[alpha[..., 0] > 0.5] = instance
    return np.round(image).astype(np.uint8), ids


@pytest.mark.parametrize(
    "edit", [EditSpec(remove=(2,)), EditSpec(background="#2040c0"), EditSpec(remove=(1,), background="#2040c0")]
)
def test_planes_the_edits_drop_get_no_colour_and_the_edited_frame_is_unchanged(edit):
    image, ids = _two_people()
    size = processing_size(image.shape[1], image.shape[0], 64)
    stack = MaskMattingDecomposer().decompose(shrink_image(image, size), shrink_ids(ids, size))
    whole = upsample_layers(stack, image)
    lean = upsample_layers(stack, image, discard=edit.discarded_ids)
    np.testing.assert_array_equal(lean.alpha.numpy(), whole.alpha.numpy())
    for plane, instance in enumerate(stack.ids):
        dropped = instance in edit.discarded_ids
        assert bool(lean.colour[plane].any()) is not dropped
        assert dropped or bool((lean.colour[plane] == whole.colour[plane]).all())
    (edited_whole,) = apply_edits([whole], edit, image.shape[1], image.shape[0])
    (edited_lean,) = apply_edits([lean], edit, image.shape[1], image.shape[0])
    np.testing.assert_array_equal(edited_lean.render().numpy(), edited_whole.render().numpy())


def test_a_blurred_background_keeps_its_colour():
    assert EditSpec(background="blur:8").discarded_ids == set()
    assert EditSpec(remove=(3,), background="#000000").discarded_ids == {0, 3}
