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


def facade_over_lawn(height: int, width: int, block: int = 8, seed: int = 0) -> tuple[np.ndarray, int]:
    """A busy upper half (blocks of random colour: windows, branches) over a quiet lawn (green, faint
    noise), like a building behind a lawn. Returns the picture and the lawn's first row."""
    rng = np.random.default_rng(seed)
    foot = height // 2
    tiles = rng.integers(40, 230, (foot // block + 1, width // block + 1, 3)).astype(np.float32)
    image = np.empty((height, width, 3), np.float32)
    image[:foot] = np.kron(tiles, np.ones((block, block, 1)))[:foot, :width]
    image[foot:] = (60, 120, 40) + rng.normal(0, 10, (height - foot, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8), foot


def test_a_standing_person_leaves_the_facade_behind_them_not_a_column_of_lawn():
    """A column from the top of the picture to the lawn: the busy upper half goes on through it as busy as
    it is around it. Smooth lawn matches a blurred guess best, so a search started from a diffusion fill
    filled the whole column with a smear of it (colour spread about a quarter of the facade's)."""
    image, foot = facade_over_lawn(96, 192)
    hole = np.zeros(image.shape[:2], bool)
    hole[4:92, 80:128] = True
    filled = inpaint(image, hole)
    upper, lower = filled[8 : foot - 4, 84:124].astype(float), filled[foot + 4 : 88, 84:124].astype(float)
    facade = image[8 : foot - 4, :72].astype(float)
    assert (upper.std(axis=(0, 1)) > 0.6 * facade.std(axis=(0, 1))).all()
    assert (np.abs(upper - (60, 120, 40)).max(axis=-1) < 30).mean() < 0.1  # hardly any lawn up there
    assert np.abs(lower.mean(axis=(0, 1)) - (60, 120, 40)).max() < 12


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


def test_a_field_update_equals_scoring_every_candidate():
    """The search scores only usable candidates that differ from the current match and whose patches' channel
    sums leave them a chance; the field it leaves must be the one that scoring every candidate and keeping
    the strictly better would leave."""
    import torch

    from vmat.editing.inpaint import _Field, _Level

    wall = torch.from_numpy(bricks(40, 56, seed=3)).permute(2, 0, 1).float() / 255.0
    unknown = torch.zeros(40, 56, dtype=torch.bool)
    unknown[12:28, 18:38] = True
    field = _Field(_Level(wall, unknown), 7, torch.Generator().manual_seed(0), InpaintConfig())
    features = field.patches()
    field.target_features = features[field.targets]
    field.target_sums = features.sums(field.targets)  # candidates that cannot win are not scored
    field.distance = field.score(features, field.source)
    rng = np.random.default_rng(1)
    for _ in range(4):
        candidates = torch.from_numpy(rng.integers(-1, 40 * 56, field.targets.numel()))
        # Some proposals repeat the current match, as neighbours' matches do in a coherent field.
        repeat = torch.from_numpy(rng.random(field.targets.numel()) < 0.5)
        candidates = torch.where(repeat, field.source, candidates)
        distance = field.score(features, candidates)
        better = distance < field.distance
        expected_source = torch.where(better, candidates, field.source)
        expected_distance = torch.where(better, distance, field.distance)
        assert better.any() and (~better).any()
        field.consider(features, candidates)
        assert torch.equal(field.source, expected_source)
        assert torch.equal(field.distance, expected_distance)


def test_the_onion_peel_fills_every_hole_pixel_from_known_patches():
    """The coarsest level's start: every hole pixel gets the centre colour of a known patch (none of the
    hole's own magenta survives), and the known pixels stay as they are."""
    import torch

    from vmat.editing.inpaint import _Field, _Level, _peeled_fill

    wall = bricks(30, 40, seed=2)
    wall[10:20, 15:25] = (255, 0, 255)
    image = torch.from_numpy(wall).permute(2, 0, 1).float() / 255.0
    unknown = torch.zeros(30, 40, dtype=torch.bool)
    unknown[10:20, 15:25] = True
    level = _Level(image, unknown)
    field = _Field(level, 5, torch.Generator().manual_seed(0), InpaintConfig())
    peeled = _peeled_fill(level, 5, field.sources, field.cost)
    hole = peeled[:, unknown]
    known_colours = {tuple(c) for c in image[:, ~unknown].T.tolist()}
    assert all(tuple(c) in known_colours for c in hole.T.tolist())
    assert torch.equal(peeled[:, ~unknown], image[:, ~unknown])


def test_deep_in_a_wide_hole_the_coarse_colour_is_the_borders_interpolation():
    """Two textured halves, red and blue, and a hole across the whole height between them: the copy brings
    one or the other (a seam), the membrane a ramp from red to blue. A quarter of the way in (20 pixels
    from the red border) the fill's coarse colour is the ramp's, while the texture (the copy's detail)
    stays (``structure_reach=None``); with the membrane fading 8 pixels into the hole it stays the copy's red."""
    rng = np.random.default_rng(5)
    image = np.empty((64, 160, 3), np.float32)
    image[:, :80] = (200, 60, 60)
    image[:, 80:] = (60, 60, 200)
    image += rng.normal(0, 12, image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    hole = np.zeros(image.shape[:2], bool)
    hole[:, 40:120] = True
    quarter = (slice(8, 56), slice(56, 64))
    ramp = np.array((165, 60, 95))  # three quarters red, one quarter blue
    filled = inpaint(image, hole, config=InpaintConfig(structure_reach=None))[quarter].astype(float)
    assert np.abs(filled.mean(axis=(0, 1)) - ramp).max() < 12
    assert filled.std(axis=(0, 1)).mean() > 6
    faded = inpaint(image, hole, config=InpaintConfig(structure_reach=8.0))[quarter].astype(float)
    assert faded.mean(axis=(0, 1))[0] > 185 and faded.mean(axis=(0, 1))[2] < 80


def test_patches_gathered_row_by_row_are_the_patches():
    """On a CPU patches are gathered as rows of contiguous values; each must be the patch around its pixel
    (edges replicated), channel then row then column, as the element-by-element gather lays it out."""
    import torch

    from vmat.editing.inpaint import _Patches

    image = torch.arange(3 * 5 * 6, dtype=torch.float32).reshape(3, 5, 6)
    patches = _Patches(image, 3)
    assert patches.rows is not None
    padded = torch.nn.functional.pad(image[None], (1, 1, 1, 1), mode="replicate")[0]
    positions = torch.tensor([0, 7, 29, 13])
    gathered = patches[positions]
    assert gathered.shape == (4, 27)
    for row, position in zip(gathered, positions.tolist()):
        y, x = divmod(position, 6)
        assert torch.equal(row, padded[:, y : y + 3, x : x + 3].reshape(-1))
    patches.rows = None  # the element-by-element gather (a GPU's)
    assert torch.equal(patches[positions], gathered)


def test_far_apart_parts_are_filled_each_from_its_own_box():
    """A speck far from a big hole is its own part, searched in a small box around itself: each part's fill
    is what inpainting it alone gives, so a part's fill does not depend on the others."""
    from vmat.editing.inpaint import _clusters

    wall = bricks(64, 256, seed=4)
    big = np.zeros(wall.shape[:2], bool)
    big[20:44, 16:48] = True
    speck = np.zeros_like(big)
    speck[30:33, 220:223] = True
    _, parts = _clusters(big | speck, InpaintConfig())
    assert [box for _, box in parts] == [(slice(0, 64), slice(0, 80)), (slice(2, 61), slice(192, 251))]
    both = inpaint(wall, big | speck)
    assert np.array_equal(both[big], inpaint(wall, big)[big])
    assert np.array_equal(both[speck], inpaint(wall, speck)[speck])
    assert np.array_equal(both, inpaint(wall, big | speck))  # repeatable


def test_nearby_pieces_share_one_search_in_the_box_around_them_all():
    """Pieces whose boxes overlap are one part, searched in the box around the whole part grown by its
    longer side (for a one-piece hole: the box around it, as before parts)."""
    from vmat.editing.inpaint import _clusters

    hole = np.zeros((200, 300), bool)
    hole[90:100, 100:110] = True
    hole[90:100, 150:160] = True
    labels, parts = _clusters(hole, InpaintConfig())
    assert len(parts) == 1 and sorted(parts[0][0].tolist()) == [1, 2]
    assert parts[0][1] == (slice(30, 160), slice(40, 220))  # 60 px longer side: grown by 60
    assert labels.max() == 2
    one = np.zeros((200, 300), bool)
    one[90:100, 100:110] = True
    assert _clusters(one, InpaintConfig())[1][0][1] == (slice(62, 128), slice(72, 138))  # at least 4 patches


def test_a_part_with_too_little_known_picture_in_its_box_searches_a_wider_one():
    wall = bricks(64, 256, seed=7)
    hole = np.zeros(wall.shape[:2], bool)
    hole[28:37, 216:225] = True  # wide enough for a patch: searched, not given the nearest colour
    known = np.zeros_like(hole)
    known[:, :100] = True  # nothing known within the speck's own box (4 patches around it)
    wall[~known & ~hole] = (255, 0, 255)
    filled = inpaint(wall, hole, known)
    assert np.array_equal(filled[~hole], wall[~hole])
    assert np.abs(filled[hole].astype(float) - (255, 0, 255)).max(axis=-1).min() > 100


def test_slivers_no_patch_fits_in_take_the_nearest_known_colour_and_stretch_no_search():
    """A pan's plate has one-pixel unseen lines along the frames' edges, far from the hole a person left, next
    to canvas no frame covered: they take their nearest known pixel's colour, and the person's hole is
    filled as if alone (before, the lines stretched one search over the whole canvas)."""
    wall = bricks(64, 256, seed=5)
    known = np.ones(wall.shape[:2], bool)
    known[:, 200:] = False  # canvas no frame covered
    wall[:, 200:] = (255, 0, 255)
    person = np.zeros_like(known)
    person[20:44, 16:48] = True
    lines = np.zeros_like(known)
    lines[:, 199] = True  # the last frame's edge, unseen
    lines[10, 120:199] = True
    known &= ~lines
    filled = inpaint(wall, person | lines, known)
    assert np.array_equal(filled[person], inpaint(wall, person, known)[person])
    assert np.array_equal(filled[:, 199], wall[:, 198])  # the nearest known pixel is the one to the left
    above, below = (np.all(filled[10, 120:199] == wall[row, 120:199], axis=-1) for row in (9, 11))
    assert (above | below).all()  # either neighbour row is as near
    assert np.array_equal(filled[~(person | lines)], wall[~(person | lines)])
    from vmat.editing.inpaint import _thin_pieces

    strip = np.zeros_like(known)
    strip[40:43, 100:180] = True  # three pixels wide: searched for texture like any hole
    assert np.array_equal(_thin_pieces(lines | strip), lines)


def test_the_nearest_known_colour_found_in_boxes_is_the_whole_pictures():
    """Slivers take their nearest known colour from a distance transform over a box around them, grown until
    it holds every pixel as near as the distance found: the pixel picked must be the one the transform
    picks over the whole picture, ties and all (a box grown only until it holds known pixels picked
    another in most of these sparse cases)."""
    from vmat.editing.inpaint import _nearest_known

    rng = np.random.default_rng(0)
    for _ in range(60):
        height, width = rng.integers(10, 80, 2)
        known = rng.random((height, width)) < rng.choice([0.003, 0.02, 0.3])
        known[rng.integers(height), rng.integers(width)] = True
        where = np.zeros_like(known)
        where[rng.integers(height), rng.integers(width // 2) :] = True  # a line, as on a plate
        where |= rng.random(known.shape) < 0.02
        where &= ~known
        image = np.stack([np.arange(height * width) % 256, np.arange(height * width) // 256, np.zeros(height * width)], 1)
        image = image.astype(np.uint8).reshape(height, width, 3)  # every pixel its own colour
        _, label = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        expected = image[known][label - 1][where]
        for tile in (8, 256):
            assert np.array_equal(_nearest_known(image, known, where, tile=tile), expected)
    # No pixel asks for a colour: none is given (before, the empty tiles' minimum raised).
    known = np.eye(4, dtype=bool)
    assert _nearest_known(np.zeros((4, 4, 3), np.uint8), known, np.zeros_like(known)).shape == (0, 3)


def test_canvas_neither_known_nor_in_the_hole_around_the_picture_changes_nothing():
    """A moving camera's plate is a picture on a wider canvas that no frame covered: a part's box stops at
    the picture, so the fill is the one the picture alone gets (the canvas's margin was once searched and
    synthesised with the hole: slower, and blurrier through the deeper pyramid)."""
    wall = bricks(64, 96, seed=8)
    hole = np.zeros(wall.shape[:2], bool)
    hole[20:40, 30:52] = True
    canvas = np.full((180, 260, 3), (255, 0, 255), np.uint8)
    where = (slice(50, 114), slice(70, 166))
    canvas[where] = wall
    canvas_hole = np.zeros(canvas.shape[:2], bool)
    canvas_hole[where] = hole
    known = np.zeros_like(canvas_hole)
    known[where] = ~hole
    filled = inpaint(canvas, canvas_hole, known)
    assert np.array_equal(filled[where], inpaint(wall, hole))
    assert np.array_equal(filled[~canvas_hole], canvas[~canvas_hole])
