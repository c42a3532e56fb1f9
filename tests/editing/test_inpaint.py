import cv2
import numpy as np
import pytest

from vmat.editing.inpaint import InpaintConfig, inpaint
from vmat.layers import LayerError
from vmat.metrics.matting import gradient_magnitude


def bricks(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A wall of 12x6 bricks with 1-pixel mortar and speckled faces: sharp, repetitive texture."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.float32)
    image[:] = (150, 70, 50)
    image += rng.normal(0, 12, image.shape)
    ys, xs = np.mgrid[:height, :width]
    offset = np.where((ys // 6) % 2 == 0, 0, 6)
    mortar = (ys % 6 == 0) | ((xs + offset) % 12 == 0)
    image[mortar] = (200, 200, 190)
    return np.clip(image, 0, 255).astype(np.uint8)


def sharpness(result: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    inner = cv2.erode(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    grey = lambda image: cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) / 255.0  # noqa: E731
    return float(gradient_magnitude(grey(result), 1.0)[inner].mean() / gradient_magnitude(grey(truth), 1.0)[inner].mean())


def test_a_hole_in_texture_is_filled_as_sharp_as_the_texture():
    wall = bricks(72, 96)
    hole = np.zeros(wall.shape[:2], bool)
    hole[20:52, 36:64] = True
    filled = inpaint(wall, hole)
    assert np.array_equal(filled[~hole], wall[~hole])
    smeared = cv2.inpaint(wall, hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    # Diffusion keeps about a third of the texture's gradient; copied patches keep nearly all of it.
    assert sharpness(smeared, wall, hole) < 0.5
    assert sharpness(filled, wall, hole) > 0.8
    # The mortar lines go on through the hole: its rows are the wall's rows, brick for brick, up to the
    # speckle (wedges or a smear would leave rows of mean colour).
    mortar_rows = [y for y in range(21, 51) if y % 6 == 0]
    assert filled[mortar_rows, 40:60].mean() > 180 and filled[[y + 3 for y in mortar_rows], 40:60].min(axis=-1).mean() < 120


def test_only_known_pixels_are_copied_and_the_fill_is_repeatable():
    wall = bricks(64, 64, seed=1)
    hole = np.zeros(wall.shape[:2], bool)
    hole[24:40, 24:40] = True
    forbidden = np.zeros_like(hole)
    forbidden[:, :12] = True
    wall[forbidden] = (0, 255, 0)  # neither known nor to be filled: must never be copied
    filled = inpaint(wall, hole, known=~forbidden)
    assert not (filled[hole] == (0, 255, 0)).all(axis=-1).any()
    assert np.array_equal(filled, inpaint(wall, hole, known=~forbidden))
    assert np.array_equal(filled[forbidden], wall[forbidden])


def test_too_little_context_and_bad_patches_are_refused():
    image = bricks(8, 8)
    hole = np.ones((8, 8), bool)
    hole[0, 0] = False
    with pytest.raises(LayerError, match="Too little"):
        inpaint(image, hole)
    with pytest.raises(LayerError, match="odd"):
        inpaint(image, hole, config=InpaintConfig(patch=4))
    assert np.array_equal(inpaint(image, np.zeros((8, 8), bool)), image)
