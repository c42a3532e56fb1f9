from fractions import Fraction

import numpy as np
import pytest
import torch

from vmat.io.frame import Frame
from vmat.layers import LayerStack
from vmat.pipeline import FrameRecord, run_stages
from vmat.pipeline.stages import TemporalStage
from vmat.temporal.colour import premultiply, raised_colour, raised_pixels
from vmat.temporal.streaming import StreamConfig, TemporalRefinerStream

from tests.temporal.test_flow_blend import _disc_alpha, _scene
from tests.temporal.test_streaming import _frames, _model

RED, BLUE = (0.8, 0.2, 0.1), (0.1, 0.3, 0.9)


def _record(index, alpha, colour):
    """A 2x3 frame of a still grey picture with person 7's ``alpha (2, 3)`` and straight ``colour (3, 2, 3)``."""
    image = np.full((2, 3, 3), 50, np.uint8)
    stack = LayerStack(
        torch.stack([torch.full((3, 2, 3), 0.2), torch.from_numpy(colour)]),
        torch.stack([torch.ones(2, 3), torch.from_numpy(alpha)]),
        torch.tensor([float("inf"), 1.0]),
        (0, 7),
    )
    record = FrameRecord(Frame(index, image, index, Fraction(1, 25)))
    record.layers = stack
    return record


def _paint(colour, where):
    return np.where(where, np.asarray(colour, np.float32)[:, None, None], 0.0).astype(np.float32)


def test_coverage_held_where_the_mask_left_the_person_keeps_the_colour_it_was_held_with():
    # Frame 0: person 7 covers the still picture, red. Frame 1: the mask gave the right column to someone else,
    # so the decomposer gave person 7 neither alpha nor colour there (0, as outside a person's box).
    everywhere, left = np.ones((2, 3), bool), np.array([[True, True, False]] * 2)
    records = [
        _record(0, np.ones((2, 3), np.float32), _paint(RED, everywhere)),
        _record(1, left.astype(np.float32), _paint(RED, left)),
    ]
    out = list(run_stages(iter(records), [TemporalStage()], info=None, batch_size=1))
    assert out[1].layers.alpha[1].tolist() == [[1.0] * 3] * 2  # the picture held, so the matte is held
    # Before the colour was carried, the held column composited black: colour (0, 0, 0) at alpha 1.
    assert np.allclose(out[1].layers.colour[1].numpy(), _paint(RED, everywhere))


def test_only_coverage_added_above_the_frames_own_takes_the_carried_colour():
    # own alpha 0.25 in blue; the stage raised it to 1 with coverage carried in red -> 1/4 blue, 3/4 red.
    # Where the stage kept or lowered alpha, the frame's own colour stays: those pixels are not raised.
    own_alpha = np.array([[0.25, 0.5, 1.0]], np.float32)
    matte = premultiply(np.array([[1.0, 0.5, 0.5]], np.float32), _paint(RED, np.ones((1, 3), bool)))
    own_colour = _paint(BLUE, np.ones((1, 3), bool))
    pixels = raised_pixels(matte, own_alpha)
    assert pixels[0].tolist() == [0] and pixels[1].tolist() == [0]
    colour = raised_colour(matte, own_alpha, own_colour, pixels)
    assert colour[:, 0] == pytest.approx(0.25 * np.float32(BLUE) + 0.75 * np.float32(RED))


@pytest.mark.parametrize("model", [None, "refiner"])
def test_carrying_colours_leaves_every_alpha_as_it_was(model):
    # The colour rides along as extra channels of the same rules (flow blend, fusion, refiner): the alphas the
    # stream returns are the same, bit for bit, with or without colours.
    if model is None:
        config = StreamConfig(fusion="forward", change="flow", change_soften=2.0)
        frames = [(_scene(x), {1: _disc_alpha(x + (t % 2))}) for t, x in enumerate([40, 43, 43, 46, 50])]
    else:
        config = StreamConfig(fusion="both", gru_lookahead=2, fusion_lookahead=2)
        frames = list(_frames(steps=8))
        model = _model()
    rng = np.random.default_rng(0)
    colours = [{i: rng.random((3, *a.shape)).astype(np.float32) for i, a in alphas.items()} for _, alphas in frames]
    plain, carried = TemporalRefinerStream(model, config), TemporalRefinerStream(model, config)
    without = [plain.push(image, alphas) for image, alphas in frames] + plain.flush()
    with_colour = [carried.push(image, alphas, colours=c) for (image, alphas), c in zip(frames, colours)] + carried.flush()
    without, with_colour = [o for o in without if o is not None], [o for o in with_colour if o is not None]
    assert len(without) == len(with_colour) == len(frames)
    for bare, matte in zip(without, with_colour):
        assert bare.keys() == matte.keys()
        assert all(np.array_equal(bare[i], matte[i][0]) for i in bare)
