import pytest
import torch

from vmat.errors import ConfigError
from vmat.temporal.convgru import ConvGRUCell
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig
from vmat.temporal.sparsity import SparsityPredictor, change_target

TINY = TemporalRefinerConfig(features=8, hidden=8, decoder=8)


def _tiny(gru="bidirectional", seed=0):
    torch.manual_seed(seed)
    model = TemporalRefiner(TemporalRefinerConfig(features=8, hidden=8, decoder=8, gru=gru)).eval()
    torch.nn.init.normal_(model.residual.weight, std=0.3)  # a refiner that edits (a fresh one returns its input)
    return model


def _clip(batch=2, steps=3, height=33, width=47, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, steps, 3, height, width, generator=g)
    coarse = torch.zeros(batch, steps, 1, height, width)
    coarse[..., 8:25, 10:30] = 1.0
    coarse[..., 8:25, 30] = 0.5  # a soft edge column
    return images, coarse


@pytest.mark.parametrize("gru", ["none", "forward", "bidirectional"])
def test_shapes_of_a_clip(gru):
    images, coarse = _clip()
    with torch.no_grad():
        output = _tiny(gru)(images, coarse)
    assert output.alpha.shape == (2, 3, 1, 33, 47)
    assert output.change_logits.shape == (2, 3, 1, 33, 47)
    assert float(output.alpha.min()) >= 0.0 and float(output.alpha.max()) <= 1.0
    assert torch.equal(output.change_logits[:, 0], torch.zeros(2, 1, 33, 47))


def test_a_fresh_refiner_returns_the_coarse_mattes():
    images, coarse = _clip()
    coarse = coarse * 0.7 + 0.1
    assert torch.equal(TemporalRefiner(TINY)(images, coarse).alpha, coarse)


def test_the_first_frame_is_edited_only_in_the_grown_uncertain_band():
    images, coarse = _clip(steps=1)
    model = _tiny()
    refined = model(images, coarse).alpha
    band = model.band(coarse[:, 0])
    # uncertain column 30, grown by 3 px: columns 27..33, rows 5..27
    expected = torch.zeros(33, 47)
    expected[5:28, 27:34] = 1.0
    assert torch.equal(band[0, 0], expected)
    outside = band[:, None].expand_as(refined) == 0
    assert torch.equal(refined[outside], coarse[outside])
    assert not torch.equal(refined, coarse)


def test_an_unbounded_backward_pass_equals_a_lookahead_as_long_as_the_clip():
    images, coarse = _clip(steps=4)
    model = _tiny()
    with torch.no_grad():
        assert torch.equal(model(images, coarse).alpha, model(images, coarse, lookahead=3).alpha)
        assert not torch.equal(model(images, coarse, lookahead=0).alpha, model(images, coarse).alpha)


def test_the_forward_pass_does_not_look_ahead():
    images, coarse = _clip(steps=4)
    model = _tiny("forward")
    changed = images.clone()
    changed[:, 3] = 1 - changed[:, 3]
    with torch.no_grad():
        a, b = model(images, coarse).alpha, model(changed, coarse).alpha
    assert torch.equal(a[:, :3], b[:, :3]) and not torch.equal(a[:, 3], b[:, 3])


def test_convgru_none_state_is_the_zero_state_and_shapes_hold():
    torch.manual_seed(0)
    cell = ConvGRUCell(3, 5)
    x = torch.rand(2, 3, 4, 6)
    assert torch.equal(cell(x, None), cell(x, torch.zeros(2, 5, 4, 6)))
    assert cell(x, None).shape == (2, 5, 4, 6)


def test_sparsity_predictor_shape():
    predictor = SparsityPredictor(8).eval()
    assert predictor(torch.rand(2, 8, 9, 12), torch.rand(2, 8, 9, 12)).shape == (2, 1, 9, 12)


def test_change_target_thresholds_and_grows():
    previous = torch.zeros(1, 1, 5, 5)
    alpha = previous.clone()
    alpha[0, 0, 2, 2] = 5 / 255  # above 4 grey levels
    alpha[0, 0, 0, 4] = 3 / 255  # below
    assert change_target(alpha, previous, grow=0).sum() == 1
    grown = change_target(alpha, previous, grow=1)[0, 0]
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = 1
    assert torch.equal(grown, expected)


def test_bad_configs_are_config_errors():
    with pytest.raises(ConfigError):
        TemporalRefinerConfig(gru="sideways")
    with pytest.raises(ConfigError):
        TemporalRefinerConfig(features=0)
