from __future__ import annotations

import pytest
import torch
from torch import nn

from vmat.depth import CheckpointError, load_depth_anything_v2, load_state_dict_file
from vmat.depth.checkpoint import match_state_dict
from vmat.errors import VmatError


class _NotATensor:
    pass


def test_checkpoint_error_is_a_vmat_error():
    assert issubclass(CheckpointError, VmatError)


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_depth_anything_v2(tmp_path / "nope.pth", device="cpu")


@pytest.mark.parametrize("name", ["garbage.pth", "garbage.safetensors"])
def test_file_that_is_not_a_checkpoint(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"this is not a checkpoint at all")
    with pytest.raises(CheckpointError, match="is not a readable"):
        load_state_dict_file(path)


def test_pickled_code_is_refused(tmp_path):
    # weights_only=True must refuse arbitrary objects instead of unpickling them.
    path = tmp_path / "evil.pth"
    torch.save({"x": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="is not a readable PyTorch checkpoint"):
        load_state_dict_file(path)


def test_file_without_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(CheckpointError, match="does not hold a state dict"):
        load_state_dict_file(path)


def test_round_trip_of_a_small_state_dict(tmp_path):
    state = nn.Linear(3, 2).state_dict()
    torch.save(state, tmp_path / "lin.pth")
    loaded = load_state_dict_file(tmp_path / "lin.pth")
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


def test_mismatch_names_the_first_offending_keys():
    expected = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1)).state_dict()
    state = dict(expected)
    del state["0.bias"]
    state["1.weight"] = torch.zeros(5, 5)
    state["extra"] = torch.zeros(1)
    with pytest.raises(CheckpointError) as info:
        match_state_dict(state, expected, "tiny.pth")
    message = str(info.value)
    assert message == (
        "Checkpoint tiny.pth does not fit the model: missing 0.bias; unexpected extra; "
        "wrong shape 1.weight (5, 5) (model wants (1, 2))."
    )


def test_long_key_lists_are_summarised():
    expected = {f"k{i}": torch.zeros(1) for i in range(5)}
    with pytest.raises(CheckpointError, match=r"missing k0, k1, k2 and 2 more\.$"):
        match_state_dict({}, expected, "empty.pth")


def test_wrong_checkpoint_for_depth_anything(tmp_path):
    path = tmp_path / "other_model.pth"
    torch.save(nn.Linear(3, 2).state_dict(), path)
    expected = (
        r"missing pretrained\.cls_token, pretrained\.pos_embed, pretrained\.mask_token and 236 more; "
        r"unexpected weight, bias\.$"
    )
    with pytest.raises(CheckpointError, match=expected):
        load_depth_anything_v2(path, device="cpu")
