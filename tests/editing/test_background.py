import numpy as np
import pytest
import torch

from tests.layers.stacks import make_stack
from vmat.editing import (
    blur_background_clip,
    blurred_background,
    fit_background,
    replace_background,
    replace_background_clip,
    solid_background,
    video_backgrounds,
)
from vmat.layers import LayerError


def edge_stack():
    """1x2: a half-transparent edge pixel (0.8, 0.2, 0.4) at 0.5 next to bare background."""
    return make_stack((0.3, 0.3, 0.3), [(1, 1.0, (0.8, 0.2, 0.4), [[0.5, 0.0]])])


def test_half_transparent_edge_over_a_new_background_is_the_exact_composite():
    edited = replace_background(edge_stack(), solid_background((0, 255, 0), 2, 1))
    image = edited.render()
    assert torch.allclose(image[:, 0, 0], torch.tensor([0.4, 0.6, 0.2]), atol=1e-7)
    assert image[:, 0, 1].tolist() == [0.0, 1.0, 0.0]


def test_background_must_match_the_frame():
    with pytest.raises(LayerError, match="needs"):
        replace_background(edge_stack(), torch.zeros(3, 2, 2))
    with pytest.raises(LayerError, match="0 to 255"):
        solid_background((0, 300, 0), 2, 1)


def test_cover_fit_crops_evenly_and_stretch_resizes():
    image = np.arange(4 * 2 * 3, dtype=np.uint8).reshape(2, 4, 3)
    covered = fit_background(image, 2, 2)
    assert torch.equal(covered, torch.from_numpy(image[:, 1:3]).permute(2, 0, 1).float() / 255)
    same = fit_background(image, 4, 2, fit="stretch")
    assert torch.equal(same, torch.from_numpy(image).permute(2, 0, 1).float() / 255)
    with pytest.raises(LayerError, match="fit"):
        fit_background(image, 2, 2, fit="tile")


def test_video_backgrounds_loop_or_hold():
    frames = [np.full((1, 1, 3), v, np.uint8) for v in (10, 20)]
    looped = video_backgrounds(lambda: iter(frames), 1, 1)
    assert [round(float(next(looped)[0, 0, 0]) * 255) for _ in range(5)] == [10, 20, 10, 20, 10]
    held = video_backgrounds(lambda: iter(frames), 1, 1, at_end="hold")
    assert [round(float(next(held)[0, 0, 0]) * 255) for _ in range(4)] == [10, 20, 20, 20]
    with pytest.raises(LayerError, match="no frames"):
        next(video_backgrounds(lambda: iter([]), 1, 1))


def test_clip_replacement_per_frame_and_trimmed():
    frames = [edge_stack(), edge_stack()]
    planes = [solid_background(rgb, 2, 1) for rgb in ((255, 0, 0), (0, 0, 255), (0, 0, 0))]
    out = list(replace_background_clip(frames, planes))
    assert [s.render()[:, 0, 1].tolist() for s in out] == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    with pytest.raises(LayerError, match="ended"):
        list(replace_background_clip(frames, planes[:1]))


def test_blur_ignores_person_colour_left_in_the_background_plane():
    # The background plane still holds the person's red where it was hidden; the visible background is grey.
    background = torch.full((3, 9, 9), 0.5)
    background[:, 3:6, 3:6] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    alpha = torch.zeros(9, 9)
    alpha[3:6, 3:6] = 1
    stack = make_stack(background, [(1, 1.0, (1.0, 0.0, 0.0), alpha.tolist())])
    blurred = blurred_background(stack, sigma=1.5)
    assert torch.allclose(blurred, torch.full((3, 9, 9), 0.5), atol=1e-6)
    (out,) = blur_background_clip([stack], 1.5)
    assert torch.allclose(out.colour[0], blurred)
    with pytest.raises(LayerError, match="positive"):
        blurred_background(stack, 0)
