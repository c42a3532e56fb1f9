"""Upsampling skips the colour of the planes the edits drop, the edited frames stay exactly the same, and what
completion did to the ground the camera saw is shown."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from vmat.decomposition import MaskMattingDecomposer
from vmat.decomposition.resolution import upsample_layers
from vmat.geometry import shrink_ids, shrink_image
from vmat.geometry import processing_size
from vmat.editing.completion import Filled
from vmat.io.frame import Frame
from vmat.io.metadata import VideoInfo
from vmat.layers import LayerStack
from vmat.pipeline.clock import StageClock
from vmat.pipeline.edits import EditSpec, apply_edits
from vmat.pipeline.run import Layered, edited


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


def test_the_edit_step_shows_what_completion_did_to_the_ground_the_camera_saw():
    image, ids = _two_people()  # 97x131, the people in the upper middle
    size = processing_size(image.shape[1], image.shape[0], 64)
    stack = MaskMattingDecomposer().decompose(shrink_image(image, size), shrink_ids(ids, size))
    source = np.full((stack.height, stack.width), Filled.SEEN, np.uint8)
    source[38:46, 2:12] = Filled.NEIGHBOUR  # ground a matte missed, drawn from another frame
    source[38:46, 30:44] = Filled.SHADOW  # a lifted shadow
    colour = stack.colour.clone()
    colour[0, :, source == Filled.NEIGHBOUR] = torch.tensor([0.9, 0.1, 0.1])[:, None]
    colour[0, :, source == Filled.SHADOW] += 0.2
    completed = LayerStack(colour, stack.alpha, stack.depth, stack.ids)
    frame = Frame(0, image, 0, Fraction(1, 10))
    info = VideoInfo(
        path="t", container="t", codec="t", pixel_format="rgb24", width=image.shape[1], height=image.shape[0], rotation=0,
        has_alpha=False, frame_rate=Fraction(10), variable_frame_rate=False, time_base=Fraction(1, 10), start_time=0.0,
        duration=0.1, num_frames=1, colour=None,
    )
    ((_, out),) = edited([Layered(frame, completed, source)], EditSpec(), info, StageClock())
    shown = out.render().permute(1, 2, 0).numpy()
    full = image.astype(np.float32) / 255
    # Two full-size pixels in from each region's edge (past the blend's ramp); the frame's own stripes lifted.
    np.testing.assert_allclose(shown[81:89, 8:20], np.broadcast_to([0.9, 0.1, 0.1], (8, 12, 3)), atol=1e-6)
    np.testing.assert_allclose(shown[81:89, 64:88], full[81:89, 64:88] + 0.2, atol=0.5 / 255 + 1e-6)
    ((_, plain),) = edited([Layered(frame, completed)], EditSpec(), info, StageClock())  # not completed: the frame
    np.testing.assert_array_equal(plain.render().permute(1, 2, 0).numpy()[81:89, 8:88], full[81:89, 8:88])
