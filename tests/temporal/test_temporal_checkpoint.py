import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vmat.errors import ConfigError, VmatError
from vmat.temporal import build_temporal_refiner, save_temporal_checkpoint
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig


def _trained_looking(config=TemporalRefinerConfig(features=8, hidden=8, decoder=8, gru="forward", band=2)):
    torch.manual_seed(1)
    model = TemporalRefiner(config)
    torch.nn.init.normal_(model.residual.weight, std=0.3)
    model.sparsity.layers[1].running_mean.uniform_(-1, 1)  # buffers travel too
    return model.eval()


def test_round_trip_is_exact_and_carries_the_config(tmp_path):
    model = _trained_looking()
    path = save_temporal_checkpoint(model, tmp_path / "temporal.safetensors")
    loaded = build_temporal_refiner("ignored-when-loading", checkpoint=path)
    assert loaded.config == model.config and not loaded.training
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    images, coarse = torch.rand(1, 3, 3, 13, 17), torch.rand(1, 3, 1, 13, 17)
    with torch.no_grad():
        assert torch.equal(loaded(images, coarse).alpha, model(images, coarse).alpha)
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    assert metadata["format"] == "vmat-temporal" and metadata["version"] == "1"
    assert json.loads(metadata["config"])["gru"] == "forward"
    assert [p.name for p in tmp_path.iterdir()] == ["temporal.safetensors"]  # no temporary left behind


@pytest.mark.parametrize(
    "content",
    [b"not a checkpoint at all", b"\x00" * 64],
)
def test_a_corrupt_file_is_a_vmat_error(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(VmatError, match="not a readable"):
        build_temporal_refiner(checkpoint=path)


def test_a_truncated_checkpoint_is_a_vmat_error(tmp_path):
    path = save_temporal_checkpoint(_trained_looking(), tmp_path / "t.safetensors")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(VmatError):
        build_temporal_refiner(checkpoint=path)


def test_other_safetensors_files_are_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(VmatError, match="not a vmat temporal"):
        build_temporal_refiner(checkpoint=path)
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "vmat-temporal", "version": "1", "config": "{}"})
    with pytest.raises(VmatError, match="does not fit"):
        build_temporal_refiner(checkpoint=path)
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"format": "vmat-temporal", "version": "9", "config": "{}"})
    with pytest.raises(VmatError, match="version"):
        build_temporal_refiner(checkpoint=path)


def test_missing_checkpoint_and_unknown_name(tmp_path):
    with pytest.raises(VmatError, match="does not exist"):
        build_temporal_refiner(checkpoint=tmp_path / "none.safetensors")
    with pytest.raises(ConfigError):
        build_temporal_refiner("huge")


def test_the_small_refiner_is_a_few_tens_of_thousands_of_parameters():
    count = sum(p.numel() for p in build_temporal_refiner("small").parameters())
    assert 20_000 < count < 300_000
