import dataclasses
import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vmat.decomposition.mpmat import MPMat, build_mpmat, get_config, save_checkpoint
from vmat.depth.checkpoint import CheckpointError
from vmat.errors import VmatError


def test_round_trip_is_exact_and_the_metadata_names_format_version_and_config(tmp_path):
    torch.manual_seed(0)
    model = build_mpmat("small")
    path = save_checkpoint(model, tmp_path / "mpmat.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mpmat.safetensors"]  # no temporary left behind
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "vmat-mpmat" and metadata["version"] == "1"
    assert json.loads(metadata["config"])["name"] == "small"

    loaded = build_mpmat("small", checkpoint=str(path))
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    image, depth, guidance = torch.rand(1, 3, 20, 28), torch.rand(1, 1, 20, 28), torch.zeros(1, 2, 20, 28)
    with torch.inference_mode():
        assert torch.equal(model(image, depth, guidance).weights, loaded(image, depth, guidance).weights)


def test_the_checkpoints_config_wins_over_the_requested_name(tmp_path):
    config = dataclasses.replace(get_config("small"), name="custom", queries=10, embedding=16)
    path = save_checkpoint(MPMat(config), tmp_path / "custom.safetensors")
    with pytest.warns(UserWarning, match="custom"):
        model = build_mpmat("small", checkpoint=path)
    assert model.config == config


@pytest.mark.parametrize(
    "content",
    [b"", b"not a safetensors file at all", b"\xff" * 64],
    ids=["empty", "text", "garbage"],
)
def test_corrupt_checkpoint_is_a_user_error(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        build_mpmat("small", checkpoint=path)


def test_truncated_checkpoint_is_a_user_error(tmp_path):
    path = save_checkpoint(build_mpmat("small"), tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(VmatError):
        build_mpmat("small", checkpoint=path)


def test_foreign_or_mismatched_safetensors_are_user_errors(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a vmat MP-Mat checkpoint"):
        build_mpmat(checkpoint=foreign)

    config = json.dumps(get_config("small").to_dict())
    wrong_keys = tmp_path / "keys.safetensors"
    metadata = {"format": "vmat-mpmat", "version": "1", "config": config}
    save_file({"w": torch.zeros(2)}, str(wrong_keys), metadata=metadata)
    with pytest.raises(CheckpointError, match="does not fit the model"):
        build_mpmat(checkpoint=wrong_keys)

    future = tmp_path / "future.safetensors"
    save_file({"w": torch.zeros(2)}, str(future), metadata={**metadata, "version": "2"})
    with pytest.raises(CheckpointError, match="version"):
        build_mpmat(checkpoint=future)

    with pytest.raises(CheckpointError, match="does not exist"):
        build_mpmat(checkpoint=tmp_path / "missing.safetensors")
