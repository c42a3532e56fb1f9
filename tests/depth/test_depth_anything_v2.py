from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from vmat.depth import DepthAnythingV2, DepthAnythingV2Config, DepthAnythingV2Estimator, load_depth_anything_v2
from vmat.depth.dinov2 import interpolate_pos_embed

# float32 CPU reproduction of the reference network; the README promises about 1e-4.
REFERENCE_TOLERANCE = 1e-4


def test_keys_and_shapes_match_published_checkpoint(dav2_fixture):
    model_shapes = {k: list(v.shape) for k, v in DepthAnythingV2().state_dict().items()}
    assert model_shapes == dav2_fixture["shapes"]
    assert list(model_shapes) == list(dav2_fixture["shapes"])  # same order as the checkpoint
    assert sum(v.numel() for v in DepthAnythingV2().state_dict().values()) == 24_785_089


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_strict_load_reproduces_reference_output(dav2_fixture, tmp_path, suffix):
    path = tmp_path / f"depth_anything_v2_vits{suffix}"
    if suffix == ".pth":
        torch.save(dav2_fixture["state"], path)
    else:
        save_file(dav2_fixture["state"], str(path))
    model = load_depth_anything_v2(path, device="cpu")
    with torch.inference_mode():
        out = model(dav2_fixture["input"])
    assert out.shape == dav2_fixture["output"].shape == (1, 98, 126)
    assert (out - dav2_fixture["output"]).abs().max().item() < REFERENCE_TOLERANCE


def test_reference_rejects_position_interpolation_without_offset(dav2_fixture):
    # Shows that the reference output pins down the position-embedding interpolation for 98x126.
    model = DepthAnythingV2()
    model.load_state_dict(dav2_fixture["state"], strict=True)
    model.pretrained.config.interpolate_offset = 0.0
    with torch.inference_mode():
        out = model.eval()(dav2_fixture["input"])
    assert (out - dav2_fixture["output"]).abs().max().item() > 10 * REFERENCE_TOLERANCE


def test_position_embedding_is_unchanged_on_its_own_grid():
    pos = torch.randn(1, 1 + 4 * 4, 8)
    assert interpolate_pos_embed(pos, 4, 4, offset=0.1) is pos


def test_position_embedding_interpolation_keeps_constant_grid_and_class_token():
    pos = torch.full((1, 1 + 9, 2), 3.0)
    pos[:, 0] = -1.0
    out = interpolate_pos_embed(pos, 2, 5, offset=0.1)
    assert out.shape == (1, 1 + 10, 2)
    assert torch.equal(out[:, 0], pos[:, 0])
    assert torch.allclose(out[:, 1:], torch.full((1, 10, 2), 3.0))


def test_input_not_multiple_of_patch_is_rejected():
    with pytest.raises(ValueError, match="multiple of the patch size"):
        DepthAnythingV2()(torch.zeros(1, 3, 28, 30))


def test_network_size_keeps_aspect_and_multiples_of_14():
    estimator = DepthAnythingV2Estimator(DepthAnythingV2())
    # 720p: short side 518, long side 1280 * 518 / 720 = 920.9 -> 66 patches = 924.
    assert estimator.network_size(720, 1280) == (518, 924)
    assert estimator.network_size(1280, 720) == (924, 518)
    assert estimator.network_size(518, 518) == (518, 518)


def test_estimator_returns_vmat_depth_at_frame_size():
    torch.manual_seed(0)
    model = DepthAnythingV2()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    estimator = DepthAnythingV2Estimator(model, DepthAnythingV2Config(input_size=28))
    frames = torch.rand(2, 3, 31, 45)
    depth = estimator(frames, masks=None)
    assert depth.shape == (2, 1, 31, 45)
    assert depth.dtype == torch.float32 and depth.device == frames.device
    flat = depth.flatten(1)
    # Each frame is normalised on its own: nearest pixel 0, farthest 1.
    assert torch.allclose(flat.amin(1), torch.zeros(2)) and torch.allclose(flat.amax(1), torch.ones(2))
