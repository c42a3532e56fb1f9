"""The ablation switches of MP-Mat (tables 2-4): each named config removes exactly one component."""

import dataclasses

import pytest
import torch

from tests.decomposition._mpmat_data import assert_output_contract, tiny_batch
from vmat.decomposition.mpmat import CONFIGS, MPMat, MPMatConfig, MPMatOutput, get_config, mpmat_loss
from vmat.decomposition.mpmat.checkpoint import load_checkpoint, save_checkpoint

ABLATIONS = ["small-nodepth", "small-noplanes", "small-nobackground", "small-nocolour", "small-norefine"]
SWITCHES = ["use_depth", "use_planes", "background_instance", "colour_estimation", "refinement"]
# Depth and the background colour cost no parameters: the depth channel stays (as zeros) and the colour
# predictor is shared by all planes.
PARAMETERS = {
    "small": 324_832,
    "small-nodepth": 324_832,
    "small-noplanes": 289_758,
    "small-nobackground": 324_832,
    "small-nocolour": 267_124,
    "small-norefine": 246_496,
}


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, 37, 53, generator=generator)
    depth = torch.rand(2, 1, 37, 53, generator=generator)
    guidance = (torch.rand(2, 3, 37, 53, generator=generator) > 0.5).float()
    return image, depth, guidance


def _model(name: str) -> MPMat:
    torch.manual_seed(0)
    return MPMat(get_config(name)).eval()


def test_every_switch_is_on_by_default_and_each_ablation_turns_off_exactly_one():
    for config in (get_config("small"), get_config("paper"), MPMatConfig()):
        assert all(getattr(config, switch) for switch in SWITCHES)
    for name, switch in zip(ABLATIONS, SWITCHES, strict=True):
        config = get_config(name)
        assert config.name == name
        assert config == dataclasses.replace(get_config("small"), name=name, **{switch: False})
    assert set(CONFIGS) == {"paper", "small", *ABLATIONS}


def test_full_small_network_is_unchanged_by_the_switches():
    # The state dict of the full network must not move: existing checkpoints load strictly.
    model = _model("small")
    assert _count(model) == PARAMETERS["small"]
    assert "plane_generation.interpret.logit.weight" in model.state_dict()
    assert "instance_decoder.refine_colour.join.weight" in model.state_dict()


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablated_network_follows_the_output_contract_and_trains(name):
    model = _model(name).train()
    config = model.config
    image, depth, guidance = _inputs()
    output = model(image, depth, guidance)
    assert_output_contract(output, config, 2, 37, 53)

    batch = tiny_batch(37, 53)
    loss, parts = mpmat_loss(model(batch["image"], batch["depth"], batch["guidance"]), batch)
    loss.backward()
    assert torch.isfinite(loss)
    # Ablated components are not built, so no parameter is left without a gradient.
    assert all(p.grad is not None for p in model.parameters())
    assert _count(model) == PARAMETERS[name]


def test_without_depth_the_output_does_not_depend_on_the_depth_input():
    model = _model("small-nodepth")
    image, depth, guidance = _inputs()
    with torch.inference_mode():
        first = model(image, depth, guidance)
        second = model(image, 1.0 - depth, guidance)
    for field in ("weights", "colour", "object_logits", "uncertainty", "plane_masks"):
        assert torch.equal(getattr(first, field), getattr(second, field)), field
    # The full network does see depth, so the property above is the switch's doing.
    full = _model("small")
    with torch.inference_mode():
        assert not torch.equal(full(image, depth, guidance).weights, full(image, 1.0 - depth, guidance).weights)


def test_without_colour_estimation_every_plane_is_the_input_image():
    model = _model("small-nocolour")
    image, depth, guidance = _inputs()
    with torch.inference_mode():
        output = model(image, depth, guidance)
    assert torch.equal(output.colour, image[:, None].expand_as(output.colour))
    names = [name for name, _ in model.named_parameters()]
    assert not any("colour" in name for name in names)


def test_without_the_background_instance_only_plane_zero_is_the_input_image():
    model = _model("small-nobackground")
    image, depth, guidance = _inputs()
    with torch.inference_mode():
        output = model(image, depth, guidance)
    assert torch.equal(output.colour[:, 0], image)
    assert not torch.equal(output.colour[:, 1], image)


def test_without_planes_there_is_no_plane_generation_network():
    model = _model("small-noplanes")
    assert model.plane_generation is None
    assert not any(name.startswith("plane_generation.") for name in model.state_dict())
    assert _count(model) < _count(_model("small"))


def _outputs_at_two_fractions(model: MPMat) -> tuple[MPMatOutput, MPMatOutput]:
    """The same network run with T = 10 % and T = 100 % (same instance: a rebuilt copy can differ in the last
    bit, so the comparison would not be exact)."""
    image, depth, guidance = _inputs()
    with torch.inference_mode():
        model.instance_decoder.uncertain_fraction = 0.1
        top = model(image, depth, guidance)
        model.instance_decoder.uncertain_fraction = 1.0
        return top, model(image, depth, guidance)


def test_without_refinement_the_uncertain_fraction_has_no_effect():
    ablated = _model("small-norefine")
    assert ablated.instance_decoder.refine_opacity is None and ablated.instance_decoder.refine_colour is None
    top, everywhere = _outputs_at_two_fractions(ablated)
    assert torch.equal(top.weights, everywhere.weights) and torch.equal(top.colour, everywhere.colour)
    # With refinement, pooling over the top 10 % or over every pixel gives different mattes.
    top, everywhere = _outputs_at_two_fractions(_model("small"))
    assert not torch.equal(top.weights, everywhere.weights)


def test_losses_of_planes_whose_colour_is_copied_are_left_out():
    batch = tiny_batch(16, 24)
    expected = {
        "small": {"composition", "foreground", "background"},
        "small-nobackground": {"composition", "foreground"},
        "small-nocolour": set(),
    }
    for name, colour_parts in expected.items():
        with torch.inference_mode():
            _, parts = mpmat_loss(_model(name)(batch["image"], batch["depth"], batch["guidance"]), batch)
        assert set(parts) == {"total", "classification", "alpha", "laplacian", "uncertainty"} | colour_parts, name


def test_an_old_config_dict_without_the_switches_loads_with_them_on():
    stored = get_config("small").to_dict()
    for switch in SWITCHES:
        del stored[switch]
    assert MPMatConfig.from_dict(stored) == get_config("small")


def test_ablated_checkpoint_round_trips(tmp_path):
    model = _model("small-noplanes")
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "noplanes.safetensors"))
    assert loaded.config == model.config
    image, depth, guidance = _inputs()
    with torch.inference_mode():
        assert torch.equal(loaded.eval()(image, depth, guidance).weights, model(image, depth, guidance).weights)
