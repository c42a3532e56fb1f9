import pytest
import torch
from torch import nn

from vmat.errors import ConfigError
from vmat.training.warm_start import warm_start


def _net(hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, hidden, 1), nn.Conv2d(hidden, 1, 1))


def test_shared_tensors_are_copied_and_the_others_named():
    torch.manual_seed(0)
    source, target = _net(5), _net(7)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    fresh = warm_start(target, source.state_dict())
    assert fresh == ["2.weight", "2.bias", "3.weight"]
    after = target.state_dict()
    for name in ("0.weight", "0.bias", "3.bias"):
        assert torch.equal(after[name], source.state_dict()[name])
    for name in fresh:
        assert torch.equal(after[name], before[name])


def test_tensors_the_model_lacks_are_ignored_and_nothing_fitting_is_an_error():
    target = _net(5)
    assert warm_start(target, {**_net(5).state_dict(), "extra.weight": torch.zeros(2)}) == []
    with pytest.raises(ConfigError, match="no weight of x.safetensors fits"):
        warm_start(target, {"other.weight": torch.zeros(3)}, "x.safetensors")


def test_an_mpmat_ablation_starts_from_the_full_network():
    mpmat = pytest.importorskip("vmat.decomposition.mpmat")
    full = mpmat.build_mpmat("small")
    ablation = mpmat.build_mpmat("small-noplanes")
    fresh = warm_start(ablation, full.state_dict())
    # Only the two projections that took the plane masks as input change shape.
    assert fresh == ["pixel_decoder.coarse.0.weight", "instance_decoder.memory.weight"]
    shared = ablation.state_dict()
    assert all(torch.equal(shared[k], v) for k, v in full.state_dict().items() if k in shared and k not in fresh)
