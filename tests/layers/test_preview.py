import numpy as np
import torch

from tests.layers.stacks import make_stack
from vmat.layers import label_preview, tensor_to_image
from vmat.layers.preview import id_colour


def test_preview_tints_people_and_writes_their_id():
    alpha = torch.zeros(60, 80)
    alpha[10:50, 20:60] = 1
    stack = make_stack((0.5, 0.5, 0.5), [(3, 1.0, (0.5, 0.5, 0.5), alpha.tolist())])
    picture = label_preview(stack, tint=0.5)
    plain = tensor_to_image(stack.render())
    assert picture.shape == (60, 80, 3) and picture.dtype == np.uint8
    # Away from the label, the person is pulled halfway to the id's tint; the background is untouched.
    expected = np.round((0.5 + 0.5 * (np.array(id_colour(3)) - 0.5)) * 255)
    assert np.array_equal(picture[12, 22], expected.astype(np.uint8))
    assert np.array_equal(picture[2, 2], plain[2, 2])
    # The id is written in white around the person's centre.
    assert (picture[20:40, 30:50].min(axis=-1) > 200).any()
