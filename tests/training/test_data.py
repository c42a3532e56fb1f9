import numpy as np
import pytest
import torch

from vmat.errors import ConfigError
from vmat.training import BatchSampler, SamplerConfig, normalise_depth

FRAMES = SamplerConfig(batch_size=3, crop=(48, 80), seed=5)
SEQUENCES = SamplerConfig(batch_size=2, crop=(40, 56), sequence_length=3, coarse_alpha=True, seed=5)


@pytest.fixture(scope="module")
def frame_batch(tiny_cache):
    return BatchSampler(tiny_cache, FRAMES).batch(7)


@pytest.fixture(scope="module")
def sequence_batch(tiny_cache):
    return BatchSampler(tiny_cache, SEQUENCES).batch(2)


def test_frame_batch_follows_the_contract(frame_batch):
    shapes = {key: tuple(value.shape) for key, value in frame_batch.items()}
    assert shapes == {
        "image": (3, 3, 48, 80), "depth": (3, 1, 48, 80), "guidance": (3, 6, 48, 80), "alpha": (3, 6, 48, 80),
        "foreground": (3, 6, 3, 48, 80), "background": (3, 3, 48, 80), "present": (3, 6), "guided": (3, 6),
    }
    assert frame_batch["present"].dtype == torch.bool and frame_batch["guided"].dtype == torch.bool
    assert all(value.dtype == torch.float32 for key, value in frame_batch.items() if key not in ("present", "guided"))
    assert set(frame_batch["guidance"].unique().tolist()) <= {0.0, 1.0}


def test_sequence_batch_follows_the_contract(sequence_batch):
    assert tuple(sequence_batch["image"].shape) == (2, 3, 3, 40, 56)
    assert tuple(sequence_batch["coarse_alpha"].shape) == (2, 3, 6, 40, 56)
    assert tuple(sequence_batch["present"].shape) == (2, 3, 6)
    assert tuple(sequence_batch["foreground"].shape) == (2, 3, 6, 3, 40, 56)


@pytest.mark.parametrize("name", ["frame_batch", "sequence_batch"])
def test_layers_explain_the_image(name, request):
    batch = request.getfixturevalue(name)
    alpha, foreground = batch["alpha"], batch["foreground"]
    rest = 1.0 - alpha.sum(-3)
    rebuilt = rest.unsqueeze(-3) * batch["background"] + (alpha.unsqueeze(-3) * foreground).sum(-4)
    assert rest.min() >= -1e-5
    # uint8 rounding of the stored frame and of each stored layer alpha (see test_cache).
    assert (rebuilt - batch["image"]).abs().max() <= 3.0 / 255


@pytest.mark.parametrize("name", ["frame_batch", "sequence_batch"])
def test_flags_agree_with_the_masks(name, request):
    batch = request.getfixturevalue(name)
    present, guided = batch["present"], batch["guided"]
    assert torch.equal(present, batch["alpha"].sum((-1, -2)) > 0)
    assert torch.equal(guided, present & (batch["guidance"].sum((-1, -2)) > 0))
    assert batch["guidance"][~present].abs().sum() == 0  # no guidance for padding or absent people
    assert batch["depth"].min() >= 0 and batch["depth"].max() <= 1


def test_coarse_mattes_are_visible_weights(sequence_batch):
    coarse = sequence_batch["coarse_alpha"]
    assert coarse.min() >= 0 and coarse.sum(2).max() <= 1 + 1e-5
    # No guidance, no coarse matte.
    unguided = ~sequence_batch["guided"]
    assert coarse[unguided].abs().sum() == 0


def test_same_seed_same_batch_and_steps_differ(tiny_cache, frame_batch):
    again = BatchSampler(tiny_cache, FRAMES).batch(7)
    for key in frame_batch:
        assert torch.equal(frame_batch[key], again[key])
    other = BatchSampler(tiny_cache, FRAMES).batch(8)
    assert not torch.equal(frame_batch["image"], other["image"])


def test_sequences_are_consecutive_frames_of_one_clip(tiny_cache):
    config = SamplerConfig(batch_size=1, crop=(64, 96), sequence_length=4, paste_probability=0.0, flip_probability=0.0)
    sampler = BatchSampler(tiny_cache, config)
    image = sampler.batch(0)["image"][0]
    frames = (image.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    windows = [tiny_cache.clip(c)["image"][start : start + 4] for c in range(len(tiny_cache)) for start in (0, 1)]
    assert any(np.array_equal(frames, window) for window in windows)


def test_pasting_adds_a_person(tiny_cache):
    plain = SamplerConfig(batch_size=4, crop=(64, 96), paste_probability=0.0, seed=1)
    pasted = SamplerConfig(batch_size=4, crop=(64, 96), paste_probability=1.0, seed=1)
    people = lambda config: BatchSampler(tiny_cache, config).batch(0)["present"].sum().item()  # noqa: E731
    assert people(pasted) > people(plain)


def test_normalise_depth():
    np.testing.assert_allclose(normalise_depth(np.array([[2.0, 3.0], [4.0, 6.0]])), [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_array_equal(normalise_depth(np.full((2, 2), 5.0)), np.zeros((2, 2)))


def test_impossible_requests_are_config_errors(tiny_cache):
    with pytest.raises(ConfigError, match="larger than"):
        BatchSampler(tiny_cache, SamplerConfig(crop=(65, 96)))
    with pytest.raises(ConfigError, match="frames"):
        BatchSampler(tiny_cache, SamplerConfig(crop=(32, 32), sequence_length=6))
    with pytest.raises(ConfigError, match="slots"):
        BatchSampler(tiny_cache, SamplerConfig(crop=(32, 32), slots=2))


def test_zoomed_batches_keep_the_contract_and_unzoomed_ones_are_unchanged(tiny_cache, frame_batch):
    from dataclasses import replace

    zoomed = BatchSampler(tiny_cache, replace(FRAMES, zoom=2.0)).batch(7)
    assert {k: v.shape for k, v in zoomed.items()} == {k: v.shape for k, v in frame_batch.items()}
    rest = 1.0 - zoomed["alpha"].sum(-3)
    rebuilt = rest.unsqueeze(-3) * zoomed["background"] + (zoomed["alpha"].unsqueeze(-3) * zoomed["foreground"]).sum(-4)
    assert (rebuilt - zoomed["image"]).abs().max() <= 3.0 / 255
    assert not torch.equal(zoomed["image"], frame_batch["image"])
    assert torch.equal(BatchSampler(tiny_cache, replace(FRAMES, zoom=1.0)).batch(7)["image"], frame_batch["image"])
