import numpy as np
import torch

from vmat.layers import image_to_tensor, tensor_to_image


def test_every_8_bit_level_comes_back_exactly():
    image = np.arange(256 * 3, dtype=np.int64).reshape(16, 16, 3).astype(np.uint8)
    tensor = image_to_tensor(image)
    assert tensor.shape == (3, 16, 16) and tensor.dtype == torch.float32
    np.testing.assert_array_equal(tensor.permute(1, 2, 0).numpy(), image.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(tensor_to_image(tensor), image)


def test_values_are_clamped_and_rounded_half_to_even_and_the_input_is_left_alone():
    # 0.5 / 255 and 2.5 / 255 scale back to 0.5 and 2.5 (exactly, in float32), which round to the even 0 and 2.
    values = torch.tensor([-0.5, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.999, 1.0, 7.0], dtype=torch.float32)
    assert (values * 255.0).tolist()[1:4] == [0.5, 1.5, 2.5]
    rgb = values.view(1, 1, -1).expand(3, 1, -1).clone()
    kept = rgb.clone()
    image = tensor_to_image(rgb)
    assert image.shape == (1, 7, 3) and image.flags["C_CONTIGUOUS"]
    assert image[0, :, 0].tolist() == [0, 0, 2, 2, 255, 255, 255]
    assert torch.equal(rgb, kept)
