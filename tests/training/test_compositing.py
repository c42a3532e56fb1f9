import numpy as np

from vmat.training import LayeredSample, paste_person


def _one_person(alpha, colour, background=0.0, depth=4.0):
    """One frame of 1x2 pixels, one person of the given alpha and grey colour."""
    return LayeredSample(
        image=np.full((1, 1, 2, 3), alpha * colour + (1 - alpha) * background, np.float32),
        background=np.full((1, 1, 2, 3), background, np.float32),
        layer_alpha=np.full((1, 1, 1, 2), alpha, np.float32),
        foreground=np.full((1, 1, 1, 2, 3), colour, np.float32),
        order=np.array([[0]]),
        instance_depth=np.array([[depth]], np.float32),
        background_depth=np.array([[9.0, 10.0]], np.float32),
    )


def test_paste_in_front_follows_eq_2():
    scene, donor = _one_person(0.5, 1.0), _one_person(0.5, 0.2)
    pasted = paste_person(scene, donor, 0, front=True, depth_scale=0.25)
    np.testing.assert_allclose(pasted.image, 0.5 * 0.2 + 0.5 * 0.5)  # a_p F_p + (1 - a_p) I
    visible, rest = pasted.visible()
    np.testing.assert_allclose(visible[0, :, 0, 0], [0.25, 0.5])  # a_1 (1 - a_p), then a_p
    np.testing.assert_allclose(rest, 0.25)
    np.testing.assert_array_equal(pasted.order, [[1, 0]])
    np.testing.assert_allclose(pasted.instance_depth, [[4.0, 3.0]])


def test_paste_behind_follows_eq_2():
    scene, donor = _one_person(0.5, 1.0), _one_person(0.5, 0.2)
    pasted = paste_person(scene, donor, 0, front=False, depth_scale=0.25)
    np.testing.assert_allclose(pasted.image, 0.5 + 0.5 * 0.5 * 0.2)  # I + c_0 a_p (F_p - B)
    visible, rest = pasted.visible()
    np.testing.assert_allclose(visible[0, :, 0, 0], [0.5, 0.25])
    np.testing.assert_allclose(rest, 0.25)
    np.testing.assert_allclose(pasted.instance_depth, [[4.0, 5.0]])


def test_layers_explain_the_pasted_image():
    scene = _one_person(0.7, 0.9, background=0.3)
    donor = _one_person(0.4, 0.1)
    for front in (True, False):
        pasted = paste_person(scene, donor, 0, front=front, depth_scale=0.1)
        visible, rest = pasted.visible()
        rebuilt = rest[..., None] * pasted.background + (visible[..., None] * pasted.foreground).sum(1)
        np.testing.assert_allclose(rebuilt, pasted.image, atol=1e-6)


def test_depth_map_takes_the_dominant_layer():
    scene = _one_person(0.5, 1.0)
    thin = LayeredSample(**{**scene.__dict__, "layer_alpha": np.array([[[[0.6, 0.4]]]], np.float32)})
    np.testing.assert_array_equal(thin.depth_map(), [[[4.0, 10.0]]])


def test_crop_and_flip_cut_every_array_alike():
    height, width = 4, 5
    grid = np.arange(height * width, dtype=np.float32).reshape(height, width)
    sample = LayeredSample(
        image=np.repeat(grid[None, :, :, None], 3, -1),
        background=np.repeat(grid[None, :, :, None], 3, -1),
        layer_alpha=grid[None, None],
        foreground=np.repeat(grid[None, None, :, :, None], 3, -1),
        order=np.array([[0]]),
        instance_depth=np.array([[1.0]], np.float32),
        background_depth=grid,
    )
    cut = sample.crop(1, 2, 2, 3, flip=True)
    expected = grid[1:3, 2:5][:, ::-1]
    np.testing.assert_array_equal(cut.background_depth, expected)
    np.testing.assert_array_equal(cut.layer_alpha[0, 0], expected)
    np.testing.assert_array_equal(cut.image[0, ..., 1], expected)
    np.testing.assert_array_equal(cut.foreground[0, 0, ..., 2], expected)


def test_resized_scales_every_array_alike_and_keeps_the_layers_exact():
    # A 2x doubling of a 1x2 sample: bilinear of a constant row pair is exact on the constant parts.
    sample = _one_person(0.6, 0.5, background=0.2)
    big = sample.resized(2, 4)
    assert big.image.shape == (1, 2, 4, 3) and big.layer_alpha.shape == (1, 1, 2, 4)
    assert big.foreground.shape == (1, 1, 2, 4, 3) and big.background_depth.shape == (2, 4)
    np.testing.assert_allclose(big.layer_alpha, 0.6, atol=1e-6)
    np.testing.assert_allclose(big.background_depth[:, 0], 9.0)
    np.testing.assert_allclose(big.background_depth[:, -1], 10.0)
    visible, rest = big.visible()
    rebuilt = rest[..., None] * big.background + (visible[..., None] * big.foreground).sum(1)
    np.testing.assert_allclose(rebuilt, big.image, atol=1e-6)
