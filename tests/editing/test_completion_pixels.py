import numpy as np

from vmat.editing.completion import _pixels


def test_pixels_are_the_boolean_selection_of_an_image_or_its_crop():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    seen = rng.random((9, 11)) < 0.5
    for image in (colour, colour[2:7, 3:10], colour[::-1], colour[:, ::2], seen, seen[1:8, 2:9]):
        where = rng.random(image.shape[:2]) < 0.4
        ys, xs = np.nonzero(where)
        assert np.array_equal(_pixels(image, ys, xs), image[where])
    assert _pixels(colour, np.zeros(0, int), np.zeros(0, int)).shape == (0, 3)
