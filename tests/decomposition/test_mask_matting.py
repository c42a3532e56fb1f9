import cv2
import numpy as np
import pytest
import torch

from vmat.decomposition import MaskMattingConfig, MaskMattingDecomposer, estimate_foreground, soft_matte
from vmat.decomposition.mask_matting import recompose_colours
from vmat.errors import ConfigError


def _scene(height=90, width=120, centre=(60, 45), radius=25, ramp=5.0, colour=(0.9, 0.3, 0.2), seed=0):
    """A soft-edged disc of textured colour over a smooth random background: alpha, F and B are exact."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    alpha = np.clip((radius - np.hypot(x - centre[0], y - centre[1])) / ramp + 0.5, 0, 1).astype(np.float32)
    background = cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), 5)
    background = 0.2 + 0.6 * (background - background.min()) / (background.max() - background.min())
    foreground = np.empty((height, width, 3), np.float32)
    foreground[...] = colour
    foreground[..., 1] += 0.1 * np.sin(x / 4.0)
    image = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    return image.astype(np.float32), alpha, foreground, background


def test_soft_matte_is_much_closer_to_the_truth_than_the_hard_mask():
    image, alpha, _, _ = _scene()
    mask = alpha > 0.5
    matte = soft_matte(image, mask)
    sad_soft, sad_hard = np.abs(matte - alpha).sum(), np.abs(mask - alpha).sum()
    assert sad_soft < 0.5 * sad_hard
    # far from the boundary the mask is trusted exactly
    assert matte[45, 60] == 1.0 and matte[2, 2] == 0.0


def test_foreground_estimation_recovers_the_colours_behind_the_blend():
    image, alpha, foreground, background = _scene()
    estimated_f, estimated_b = estimate_foreground(image, alpha)
    edge = (alpha > 0.05) & (alpha < 0.95)
    # using the blended image colour as the foreground is the fringe-producing mistake being avoided
    assert np.abs(estimated_f - foreground)[edge].mean() < 0.25 * np.abs(image - foreground)[edge].mean()
    assert np.abs(estimated_b - background)[edge].mean() < 0.25 * np.abs(image - background)[edge].mean()
    # and the estimate recomposes the image
    recomposed = alpha[..., None] * estimated_f + (1 - alpha[..., None]) * estimated_b
    assert np.abs(recomposed - image).max() < 0.02


def test_decomposer_layers_recompose_the_frame_and_order_people_by_depth():
    image, alpha_a, _, _ = _scene(centre=(45, 45), colour=(0.9, 0.3, 0.2))
    _, alpha_b, _, _ = _scene(centre=(80, 50), colour=(0.2, 0.3, 0.9))
    ids = np.zeros(alpha_a.shape, np.uint8)
    ids[alpha_b > 0.5] = 7
    ids[alpha_a > 0.5] = 3  # person 3 in front where they overlap
    depth = np.where(ids == 3, 2.0, 5.0).astype(np.float32)
    frame = (image * 255).round().astype(np.uint8)
    stack = MaskMattingDecomposer().decompose(frame, ids, depth=depth, instance_ids=[3, 7, 9])
    stack.validate()
    assert stack.ids == (0, 3, 7, 9)
    assert stack.order()[0] == 1  # person 3 is nearest
    assert float(stack.alpha[3].abs().max()) == 0.0  # id 9 is absent from this frame: an empty plane
    rendered = stack.render().permute(1, 2, 0).numpy()
    assert np.abs(rendered - frame / 255.0).mean() < 0.01


def test_decomposer_without_depth_puts_lower_feet_in_front():
    ids = np.zeros((40, 30), np.uint8)
    ids[5:20, 2:10] = 1  # feet at row 19
    ids[10:38, 15:25] = 2  # feet at row 37: nearer
    frame = np.full((40, 30, 3), 128, np.uint8)
    stack = MaskMattingDecomposer().decompose(frame, ids)
    assert stack.order()[:2] == [2, 1]
    assert isinstance(stack.alpha, torch.Tensor)


def test_colours_from_a_smaller_size_recompose_the_image_and_are_the_image_where_alpha_is_one():
    image, alpha, _, _ = _scene()
    size = (image.shape[1] // 2, image.shape[0] // 2)
    small_f, small_b = estimate_foreground(
        cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    )
    foreground, background = recompose_colours(image, alpha, small_f, small_b)
    recomposed = alpha[..., None] * foreground + (1 - alpha[..., None]) * background
    # The correction is exact before clipping; the scene's colours are inside [0, 1], so clipping rarely bites.
    assert np.abs(recomposed - image).max() < 1e-3
    np.testing.assert_allclose(foreground[alpha == 1], image[alpha == 1], atol=1e-6)
    np.testing.assert_allclose(background[alpha == 0], image[alpha == 0], atol=1e-6)


def test_both_solvers_are_selectable_and_a_wrong_name_is_a_config_error():
    image, alpha, _, _ = _scene()
    mask = alpha > 0.5
    previous = soft_matte(image, mask, MaskMattingConfig(solver="guided-filter"))
    closed_form = soft_matte(image, mask)
    assert not np.array_equal(previous, closed_form)
    with pytest.raises(ConfigError):
        MaskMattingConfig(solver="knn")


def test_decomposer_names_build_the_two_weight_free_solvers():
    from vmat.decomposition.build import build_decomposer, check_decomposer

    assert build_decomposer("mask-matting").config.solver == "closed-form"
    assert build_decomposer("mask-matting-fast").config.solver == "guided-filter"
    with pytest.raises(ConfigError, match="uses no weights"):
        check_decomposer("mask-matting-fast", "weights.safetensors")
