import numpy as np
import pytest

from vmat.editing.inpaint import InpaintConfig, inpaint
from vmat.editing.lines import continue_lines


def kerb(height: int = 120, width: int = 160, *, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """Grey pavement (speckled) crossed by a dark band 4 px wide along ``y = 0.5 x + 20``; right of the
    picture's middle the band lies ``shift`` px lower (two kerbs that are not one line)."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 170.0, np.float32) + rng.normal(0, 4, (height, width, 3))
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    centre = 0.5 * xs + 20 + np.where(xs > width / 2, shift, 0.0)
    distance = np.abs(ys - centre) / np.hypot(1.0, 0.5)
    image[distance <= 2.0] = (90, 50, 40)
    return np.clip(image, 0, 255).astype(np.uint8)


def disc(shape: tuple[int, int], centre: tuple[int, int], radius: int) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]]
    return (ys - centre[0]) ** 2 + (xs - centre[1]) ** 2 <= radius**2


def on_band(shape: tuple[int, int], half_width: float) -> np.ndarray:
    ys, xs = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    return np.abs(ys - (0.5 * xs + 20)) / np.hypot(1.0, 0.5) <= half_width


def test_a_kerb_seen_on_both_sides_of_a_hole_is_painted_through_it():
    image = kerb()
    hole = disc(image.shape[:2], (60, 80), 14)  # the band's centre passes through (60, 80)
    out, painted, _ = continue_lines(image, hole, ~hole)
    assert painted.any() and not (painted & ~hole).any()
    assert np.array_equal(out[~painted], image[~painted])
    core = hole & on_band(hole.shape, 1.0)
    # The band's core is painted in the band's colour (up to the speckle averaged over the profile).
    assert painted[core].mean() > 0.95
    assert np.abs(out[core].astype(float) - (90, 50, 40)).max() < 12
    # Pavement far from the band is left to the search.
    assert not painted[hole & ~on_band(hole.shape, 5.0)].any()


@pytest.mark.parametrize("case", ["ends at the hole", "two kerbs out of line"])
def test_a_line_the_far_side_does_not_confirm_is_not_painted(case):
    if case == "ends at the hole":
        image = kerb()
        ys, xs = np.mgrid[:120, :160]
        image[(xs > 80) & on_band((120, 160), 3.0)] = image[5, 150]  # pavement past the hole
    else:
        image = kerb(shift=7.0)
    hole = disc(image.shape[:2], (60, 80), 14)
    out, painted, _ = continue_lines(image, hole, ~hole)
    assert not painted.any()
    assert np.array_equal(out, image)


def test_inpainting_keeps_a_kerb_through_a_hole():
    image = kerb()
    hole = disc(image.shape[:2], (60, 80), 14)
    core = hole & on_band(hole.shape, 1.0)
    filled = inpaint(image, hole)
    assert np.array_equal(filled[~hole], image[~hole])
    assert np.abs(filled[core].astype(float) - (90, 50, 40)).mean() < 12
    # The search alone lays the hole out at a scale where the band is under a pixel, and breaks it.
    alone = inpaint(image, hole, config=InpaintConfig(lines=False))
    assert np.abs(alone[core].astype(float) - (90, 50, 40)).mean() > 24
    # What lies beside the kerb in the hole is pavement, not kerb colour spilled over it.
    beside = hole & ~on_band(hole.shape, 4.0)
    assert np.abs(filled[beside].astype(float) - 170).mean() < 15


def two_regions(seed: int = 0) -> np.ndarray:
    """A speckled blue wall over speckled beige ground, the boundary along row 40 (a horizon)."""
    rng = np.random.default_rng(seed)
    image = np.empty((100, 160, 3), np.float32)
    image[:40] = (60, 80, 200)
    image[40:] = (200, 180, 120)
    image += rng.normal(0, 10, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_the_search_keeps_each_side_of_a_line_to_its_own_side():
    image = two_regions()
    hole = np.zeros(image.shape[:2], bool)
    hole[14:90, 30:130] = True  # a group standing in front of the horizon: the wall shows only beside them
    filled = inpaint(image, hole)
    above, below = hole.copy(), hole.copy()
    above[34:] = False
    below[:46] = False
    wall, ground = np.array((60, 80, 200)), np.array((200, 180, 120))
    # Every row of the hole above the horizon is wall, every row below it ground (up to the speckle).
    for rows, colour in ((above, wall), (below, ground)):
        assert (np.abs(filled[rows].astype(float) - colour).mean(1) < 30).mean() > 0.97


def test_a_source_across_a_line_costs_the_whole_colour_range():
    from vmat.editing.inpaint import _OffsetCost, _Sides
    from vmat.editing.lines import Line

    import torch

    line = Line(np.array([0.0, 10.0]), np.array([19.0, 10.0]))  # along row 10 of a 20 x 20 level
    sides = _Sides.of([line], (20, 20), 1.0, 3, torch.device("cpu"))
    cost = _OffsetCost((20, 20), 3 * 7 * 7, InpaintConfig(row_cost=0.0, column_cost=0.0), sides)
    flat = lambda y, x: torch.tensor([y * 20 + x])  # noqa: E731
    assert cost(flat(2, 5), flat(3, 15)).item() == 0.0  # both clear of the line, on one side
    assert cost(flat(2, 5), flat(17, 5)).item() == 3 * 7 * 7  # across it
    assert cost(flat(2, 5), flat(8, 5)).item() == 3 * 7 * 7  # on its side, but the patch reaches over it
    assert cost(flat(8, 5), flat(9, 15)).item() == 0.0  # a target whose own patch reaches over may


def corner(horizon: int | None = 60, seed: int = 0) -> np.ndarray:
    """A speckled red wall (columns < 60) beside speckled sky, both above beige ground from row ``horizon``
    (``None``: wall and sky go on down), 140 rows: a building's edge coming down to the horizon."""
    rng = np.random.default_rng(seed)
    image = np.empty((140, 160, 3), np.float32)
    image[:, :60] = (190, 40, 70)
    image[:, 60:] = (150, 230, 160)
    if horizon is not None:
        image[horizon:] = (200, 180, 120)
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def group(top: int) -> np.ndarray:
    """The hole: a group in front of the building's lower corner and the horizon, from row ``top`` to 125."""
    hole = np.zeros((140, 160), bool)
    hole[top:125, 40:120] = True
    return hole


def test_an_edge_that_goes_down_into_the_hole_ends_on_the_horizon_carried_through_it():
    image, hole = corner(), group(40)
    out, painted, lines = continue_lines(image, hole, ~hole)
    # The horizon (between rows 59 and 60, across the hole) and the wall's edge (between columns 59 and 60)
    # from where it meets the hole (LSD ends a segment a pixel or two short of it) to the horizon.
    assert len(lines) == 2
    [edge] = [line for line in lines if abs(line.end[0] - line.start[0]) < 1.0]
    top, bottom = sorted((edge.start, edge.end), key=lambda point: point[1])
    assert abs(top[0] - 59.5) < 1.0 and abs(bottom[0] - 59.5) < 1.0
    assert 36 <= top[1] <= 40 and abs(bottom[1] - 59.5) < 1.0
    assert not painted[63:].any()  # nothing is carried past the horizon's own band (rows 57-62)
    filled = inpaint(image, hole)
    wall, sky = hole.copy(), hole.copy()
    wall[:, 58:] = False
    wall[56:] = False
    sky[:, :62] = False
    sky[56:] = False
    for region, colour in ((wall, (190, 40, 70)), (sky, (150, 230, 160))):
        assert (np.abs(filled[region].astype(float) - colour).mean(1) < 30).mean() > 0.97


@pytest.mark.parametrize("case", ["no line to end on", "farther than it is seen"])
def test_an_edge_that_ends_in_the_hole_is_left_to_the_search(case):
    if case == "no line to end on":
        image, hole = corner(horizon=None), group(40)
        image[125:] = image[124]  # nothing below the hole confirms the edge going on
    else:
        # 38 px of the edge are seen above the hole; the horizon is 62 px further down (a window's side
        # whose bottom the hole hides would be drawn down the wall).
        image, hole = corner(horizon=100), group(40)
    out, painted, lines = continue_lines(image, hole, ~hole)
    assert not [line for line in lines if abs(line.end[0] - line.start[0]) < 1.0]
    assert not painted[:, 55:65][:90].any()
