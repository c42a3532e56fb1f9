import pytest
import torch

from tests.decomposition._mpmat_data import tiny_batch
from vmat.decomposition.mpmat import (
    MPMatOutput,
    alpha_loss,
    composition_loss,
    laplacian_pyramid,
    laplacian_pyramid_loss,
    masked_l1,
    match_free_queries,
    mpmat_loss,
    plane_targets,
)
from vmat.decomposition.mpmat.losses import DETECT_WEIGHT, MATTING_WEIGHT
from vmat.errors import ConfigError


def _output(weights: torch.Tensor, colour: torch.Tensor, logits: torch.Tensor, slots: int) -> MPMatOutput:
    batch, planes, height, width = weights.shape
    return MPMatOutput(
        weights=weights,
        colour=colour,
        object_logits=logits,
        uncertainty=torch.zeros(batch, planes, height, width),
        features=torch.zeros(batch, 1, 1, 1),
        plane_masks=torch.zeros(batch, 1, 1, 1),
        slots=slots,
    )


def test_alpha_loss_sums_planes_and_averages_pixels():
    weights = torch.tensor([[1.0, 0.5], [0.0, 0.5]]).view(1, 2, 1, 2)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 2, 1, 2)
    # pixel 0: 0 + 0; pixel 1: 0.5 + 0.5
    assert alpha_loss(weights, target).item() == 0.5


def test_composition_loss_is_the_multi_instance_form():
    weights = torch.tensor([0.25, 0.75]).view(1, 2, 1, 1)
    colour = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]).view(1, 2, 3, 1, 1)
    image = torch.tensor([0.5, 1.0, 0.75]).view(1, 3, 1, 1)
    # composite 0.75 in every channel: errors 0.25, 0.25, 0
    assert composition_loss(weights, colour, image).item() == pytest.approx(1.0 / 6.0, abs=1e-7)


def test_masked_l1_averages_only_inside_the_mask():
    prediction = torch.tensor([[0.0, 1.0], [0.5, 0.5]]).view(1, 2, 1, 2)  # (1, C=2, 1, 2)
    target = torch.zeros(1, 2, 1, 2)
    mask = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    # inside the mask: |0| and |0.5| over two channels
    assert masked_l1(prediction, target, mask).item() == 0.25
    assert masked_l1(prediction, target, torch.zeros_like(mask)).item() == 0.0


def test_laplacian_pyramid_reconstructs_its_input():
    x = torch.rand(1, 1, 21, 30, generator=torch.Generator().manual_seed(0))
    bands = laplacian_pyramid(x, levels=4)
    assert [tuple(b.shape[2:]) for b in bands] == [(21, 30), (11, 15), (6, 8), (3, 4)]
    rebuilt = bands[-1]
    for band in reversed(bands[:-1]):
        upsampled = torch.nn.functional.interpolate(rebuilt, size=band.shape[2:], mode="bilinear", align_corners=False)
        rebuilt = band + upsampled
    assert torch.allclose(rebuilt, x, atol=1e-6)


def test_laplacian_loss_of_a_constant_offset_lives_in_the_coarsest_level_only():
    target = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    assert laplacian_pyramid_loss(target, target).item() == 0.0
    # a constant survives blurring and resampling, so every band but the residual is 0: 2^4 * 0.5
    assert laplacian_pyramid_loss(target + 0.5, target).item() == pytest.approx(8.0, abs=1e-5)


def test_laplacian_loss_sees_a_one_pixel_error_in_the_finest_band():
    target = torch.zeros(1, 1, 16, 16)
    prediction = target.clone()
    prediction[0, 0, 8, 8] = 1.0
    fine = laplacian_pyramid(prediction - target)[0]
    assert fine[0, 0, 8, 8] > 0.5 and laplacian_pyramid_loss(prediction, target).item() > 0.0


def test_matching_prefers_the_lowest_alpha_error():
    weights = torch.tensor([[[1.0, 1.0]], [[1.0, 0.0]], [[0.0, 0.0]]])  # three free planes, 1x2 pixels
    targets = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]]])
    logits = torch.zeros(3)
    # costs (alpha part): plane 0 -> (0.5, 0), plane 1 -> (0, 0.5), plane 2 -> (0.5, 1)
    assert match_free_queries(weights, logits, targets) == [(0, 1), (1, 0)]


def test_matching_breaks_alpha_ties_by_the_object_probability():
    weights = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])
    targets = torch.tensor([[[1.0, 0.0]]])
    assert match_free_queries(weights, torch.tensor([-10.0, 10.0]), targets) == [(1, 0)]
    assert match_free_queries(weights, torch.tensor([10.0, -10.0]), targets) == [(0, 0)]


def test_matching_needs_enough_free_planes():
    assert match_free_queries(torch.zeros(2, 1, 1), torch.zeros(2), torch.zeros(0, 1, 1)) == []
    with pytest.raises(ConfigError):
        match_free_queries(torch.zeros(1, 1, 1), torch.zeros(1), torch.zeros(2, 1, 1))


def test_plane_targets_tie_guided_people_to_their_slot_and_match_the_others_to_free_planes():
    # model: 3 guided slots + 2 free queries = 6 planes; batch: slot 0 guided, slot 1 unguided, slot 2 padding
    alpha = torch.zeros(1, 3, 1, 4)
    alpha[0, 0] = torch.tensor([1.0, 0.5, 0.0, 0.0])
    alpha[0, 1] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    weights = torch.full((1, 6, 1, 4), 1.0 / 6.0)
    weights[0, 5] = torch.tensor([0.0, 0.0, 0.0, 0.9])  # free plane 5 looks like person 1
    batch = {
        "alpha": alpha,
        "foreground": torch.rand(1, 3, 3, 1, 4),
        "background": torch.rand(1, 3, 1, 4),
        "present": torch.tensor([[True, True, False]]),
        "guided": torch.tensor([[True, False, False]]),
    }
    targets = plane_targets(_output(weights, torch.zeros(1, 6, 3, 1, 4), torch.zeros(1, 6), slots=3), batch)
    assert torch.equal(targets.is_object, torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 1.0]]))
    assert torch.equal(targets.alpha[0, 0, 0], torch.tensor([0.0, 0.5, 1.0, 0.0]))
    assert torch.equal(targets.alpha[0, 1], alpha[0, 0])
    assert torch.equal(targets.alpha[0, 5], alpha[0, 1])
    assert targets.alpha[0, 2:5].abs().sum() == 0
    assert torch.equal(targets.colour[0, 5], batch["foreground"][0, 1])
    assert torch.equal(targets.colour[0, 0], batch["background"][0])
    assert torch.equal(targets.colour_known[0, 1, 0, 0], torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert torch.equal(targets.colour_known[0, 0], torch.ones(1, 1, 4))


def test_a_perfect_prediction_has_no_matting_or_colour_loss_and_the_total_weighs_the_parts():
    batch = tiny_batch(16, 24)
    slots, free = 3, 2
    batch_size, _, height, width = batch["image"].shape
    planes = 1 + slots + free
    weights = torch.zeros(batch_size, planes, height, width)
    colour = torch.zeros(batch_size, planes, 3, height, width)
    weights[:, 0] = 1.0 - batch["alpha"].sum(1)
    colour[:, 0] = batch["background"]
    weights[:, 1:3] = batch["alpha"][:, :2]
    colour[:, 1:3] = batch["foreground"][:, :2]
    # frame 1's person 1 has no guidance: a perfect model puts it on a free plane instead of slot 2
    weights[1, 2], weights[1, 5] = 0.0, batch["alpha"][1, 1]
    colour[1, 2], colour[1, 5] = 0.0, batch["foreground"][1, 1]
    logits = torch.full((batch_size, planes), -20.0)
    logits[:, :3] = 20.0
    logits[1, 2], logits[1, 5] = -20.0, 20.0
    output = _output(weights, colour, logits, slots)
    output.uncertainty = torch.zeros_like(weights)
    total, parts = mpmat_loss(output, batch)
    for name in ("alpha", "laplacian", "foreground", "background", "uncertainty"):
        assert parts[name] == 0.0, name
    assert parts["composition"] < 1e-6
    assert parts["classification"] < 1e-8
    matting = parts["alpha"] + parts["laplacian"] + parts["composition"]
    expected = DETECT_WEIGHT * parts["classification"] + MATTING_WEIGHT * matting + parts["foreground"]
    expected += parts["background"] + parts["uncertainty"]
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert (DETECT_WEIGHT, MATTING_WEIGHT) == (1.0, 5.0)


def test_more_guidance_slots_than_the_model_holds_is_a_user_error():
    batch = tiny_batch(8, 8, slots=3)
    output = _output(torch.full((2, 3, 8, 8), 1 / 3), torch.zeros(2, 3, 3, 8, 8), torch.zeros(2, 3), slots=2)
    with pytest.raises(ConfigError, match="guidance slots"):
        plane_targets(output, batch)
