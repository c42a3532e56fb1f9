import time

import pytest
import torch

from tests.decomposition._mpmat_data import assert_output_contract, tiny_batch
from vmat.decomposition.mpmat import CONFIGS, MPMat, build_mpmat, get_config, mpmat_loss
from vmat.decomposition.mpmat.instance_decoder import top_fraction_mask
from vmat.decomposition.mpmat.layers import masked_average
from vmat.decomposition.mpmat.plane_generation import initial_plane_depths
from vmat.errors import ConfigError, VmatError


@pytest.fixture
def one_thread():
    """Run on one CPU thread: two threads on a machine shared with other jobs thrash, and one thread's
    CPU time measures what the model costs rather than what the neighbours do."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_config_has_the_papers_sizes_and_parameter_count():
    config = get_config("paper")
    assert (config.planes, config.queries, config.uncertain_fraction, config.guided_slots) == (10, 25, 0.10, 8)
    # Table 8 reports 17.52 M parameters.
    assert _count(MPMat(config)) == 17_534_240


def test_small_config_is_cpu_sized_and_holds_eight_guided_slots():
    config = get_config("small")
    assert config.guided_slots == 8 and config.queries >= config.guided_slots
    assert 300_000 <= _count(MPMat(config)) <= 1_000_000


def test_unknown_config_name_is_a_user_error():
    with pytest.raises(VmatError, match="Unknown MP-Mat config"):
        build_mpmat("huge")
    assert {"paper", "small"} <= set(CONFIGS)


def test_initial_plane_depths_are_bin_centres_over_the_frames_depth_range():
    depth = torch.tensor([0.2, 0.6, 0.3, 0.5]).view(1, 1, 2, 2)
    assert torch.allclose(initial_plane_depths(depth, 4), torch.tensor([[0.25, 0.35, 0.45, 0.55]]), atol=1e-7)


def test_top_fraction_mask_selects_the_most_uncertain_pixels_per_map():
    scores = torch.tensor([[1.0, 5.0, 3.0], [2.0, 4.0, 0.0]]).view(1, 1, 2, 3)
    # ceil(0.34 * 6) = 3 pixels: the scores 5, 4, 3
    expected = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 2, 3)
    assert torch.equal(top_fraction_mask(scores, 0.34), expected)
    # a tiny fraction still selects one pixel
    assert top_fraction_mask(scores, 1e-9).sum() == 1


def test_masked_average_pools_features_under_each_mask():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    masks = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]).view(1, 2, 2, 2)
    pooled = masked_average(features, masks)
    assert pooled[0, 0, 0].item() == pytest.approx(2.5, rel=1e-6)  # eps in the denominator
    assert pooled[0, 1, 0].item() == 0.0  # an empty mask gives zeros


def test_forward_on_an_odd_size_follows_the_output_contract():
    torch.manual_seed(0)
    model = build_mpmat("small")
    config = model.config
    image, depth = torch.rand(2, 3, 37, 53), torch.rand(2, 1, 37, 53)
    guidance = (torch.rand(2, 3, 37, 53) > 0.5).float()  # fewer slots than the model holds
    output = model(image, depth, guidance)
    assert_output_contract(output, config, 2, 37, 53)
    assert output.slots == config.guided_slots
    assert float(output.weights.detach().min()) >= 0.0
    assert 0.0 <= float(output.colour.detach().min()) and float(output.colour.detach().max()) <= 1.0
    assert torch.allclose(output.plane_masks.sum(1), torch.ones(2, 10, 14), atol=1e-5)


def test_untrained_plane_generation_keeps_the_uniform_initial_depths():
    model = build_mpmat("small")
    image, depth = torch.rand(1, 3, 8, 12), torch.rand(1, 1, 8, 12)
    planes = model.plane_generation(image, depth)
    assert torch.equal(planes.depths, planes.initial_depths)


def test_inputs_that_do_not_fit_are_rejected_with_a_user_error():
    model = build_mpmat("small")
    image = torch.rand(1, 3, 16, 16)
    with pytest.raises(ConfigError, match="at most 8"):
        model(image, torch.rand(1, 1, 16, 16), torch.zeros(1, 9, 16, 16))
    with pytest.raises(ConfigError, match="matching image"):
        model(image, torch.rand(1, 1, 16, 17), torch.zeros(1, 2, 16, 16))


def test_small_model_forward_and_backward_at_64x96_is_fast_and_reaches_every_parameter(one_thread):
    torch.manual_seed(0)
    model = build_mpmat("small").train()
    batch = tiny_batch(64, 96)

    def step() -> tuple[torch.Tensor, dict[str, float]]:
        model.zero_grad()
        loss, parts = mpmat_loss(model(batch["image"], batch["depth"], batch["guidance"]), batch)
        loss.backward()
        return loss, parts

    step()  # warm-up: the first calls allocate
    start = time.process_time()
    loss, parts = step()
    assert time.process_time() - start < 1.0
    assert torch.isfinite(loss) and set(parts) >= {"total", "alpha", "laplacian", "composition", "classification"}
    assert all(p.grad is not None for p in model.parameters())


def test_twenty_steps_on_a_two_frame_batch_reduce_the_loss(one_thread):
    torch.manual_seed(0)
    model = build_mpmat("small").train()
    batch = tiny_batch(24, 32)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss, _ = mpmat_loss(model(batch["image"], batch["depth"], batch["guidance"]), batch)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def test_frames_smaller_than_the_padding_stride_work():
    with torch.inference_mode():
        output = build_mpmat("small")(torch.rand(1, 3, 5, 7), torch.rand(1, 1, 5, 7), torch.ones(1, 1, 5, 7))
    assert output.weights.shape[2:] == (5, 7) and output.features.shape[2:] == (2, 2)
    assert torch.allclose(output.weights.sum(1), torch.ones(1, 5, 7), atol=1e-5)
