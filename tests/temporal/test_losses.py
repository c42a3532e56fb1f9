import pytest
import torch

from vmat.errors import ConfigError
from vmat.temporal.losses import TemporalLossConfig, temporal_loss
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig

TINY = TemporalRefinerConfig(features=8, hidden=8, decoder=8)


def _batch(batch=2, steps=3, slots=2, height=33, width=47, seed=0):
    """The contract's temporal batch: person 0 in both samples, person 1 only in sample 1."""
    g = torch.Generator().manual_seed(seed)
    alpha = torch.zeros(batch, steps, slots, height, width)
    for t in range(steps):
        alpha[:, t, 0, 6:26, 8 + 2 * t : 20 + 2 * t] = 1.0  # moves 2 px a frame
        alpha[:, t, 0, 6:26, 20 + 2 * t] = 0.5
    alpha[1, :, 1, 20:30, 30:40] = 0.8
    present = alpha.flatten(3).amax(3) > 0
    coarse = (alpha + 0.1 * torch.rand(alpha.shape, generator=g) * (alpha > 0)).clamp(0, 1)
    return {
        "image": torch.rand(batch, steps, 3, height, width, generator=g),
        "alpha": alpha,
        "coarse_alpha": coarse,
        "guidance": (alpha > 0).float(),
        "present": present,
    }


def test_a_perfect_refiner_has_no_matte_or_temporal_loss():
    batch = _batch()
    batch["coarse_alpha"] = batch["alpha"].clone()
    _, parts = temporal_loss(TemporalRefiner(TINY), batch, TemporalLossConfig(fusion="none"))
    assert parts["alpha_l1"] == 0.0 and parts["temporal"] == 0.0
    assert parts["sparsity_bce"] > 0


def test_the_alpha_term_is_the_mean_l1_over_present_frames():
    batch = _batch()
    batch["coarse_alpha"] = batch["alpha"].clone()
    batch["coarse_alpha"][1, :, 1] = 0.0  # person 1 of sample 1: off by 0.8 on 100 of 33*47 pixels
    _, parts = temporal_loss(TemporalRefiner(TINY), batch, TemporalLossConfig(fusion="none"))
    # three clips (two of person 0, one of person 1), all frames present
    assert parts["alpha_l1"] == pytest.approx(0.8 * 100 / (33 * 47) / 3, rel=1e-5)


def test_absent_slots_do_not_count():
    model = TemporalRefiner(TINY)
    batch = _batch()
    loss, _ = temporal_loss(model, batch)
    batch["coarse_alpha"][0, :, 1] = torch.rand(3, 33, 47)  # slot 1 of sample 0 holds nobody
    batch["alpha"][0, :, 1] = torch.rand(3, 33, 47)
    again, _ = temporal_loss(model, batch)
    assert again.item() == loss.item()


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = TemporalRefiner(TINY)
    torch.nn.init.normal_(model.residual.weight, std=0.1)
    loss, _ = temporal_loss(model, _batch())
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_a_batch_without_people_gives_a_zero_loss_that_can_be_stepped():
    batch = _batch()
    batch["present"][:] = False
    loss, parts = temporal_loss(TemporalRefiner(TINY), batch)
    assert loss.item() == 0.0 and parts["total"] == 0.0


def test_a_batch_missing_keys_is_refused():
    with pytest.raises(ConfigError):
        temporal_loss(TemporalRefiner(TINY), {"image": torch.zeros(1, 2, 3, 4, 4)})


def test_a_few_steps_of_training_lower_the_loss():
    torch.manual_seed(0)
    model = TemporalRefiner(TINY)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = _batch(height=24, width=40)
    losses = []
    for _ in range(30):
        loss, _ = temporal_loss(model, batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
