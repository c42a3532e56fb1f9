"""Three real optimiser steps of each registered task on the tiny cache (skipped while a model is missing)."""

import json

import pytest
import torch

from vmat.training import TrainConfig, train
from tests.training.conftest import TINY


@pytest.mark.parametrize(
    "task,module,loader",
    [
        ("decomposition", "vmat.decomposition.mpmat", "build_mpmat"),
        ("temporal", "vmat.temporal.losses", "build_temporal_refiner"),
    ],
)
def test_three_real_steps(task, module, loader, tmp_path, tiny_cache_dir):
    pytest.importorskip(module)
    config = TrainConfig(
        steps=3, batch_size=1, crop=(32, 48), sequence_length=3, threads=2, out=tmp_path / "run", log_every=1,
        cache=tiny_cache_dir, cache_clips=TINY["clips"], cache_frames=TINY["frames_per_clip"],
        cache_size=(TINY["width"], TINY["height"]), cache_seed=TINY["seed"],
    )
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in _build(task, loader)().state_dict().items()}
    weights = train(task, config)
    assert weights.name == f"{task}-small.safetensors"
    lines = [json.loads(line) for line in (tmp_path / "run" / "train.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in lines)
    # The saved weights load through the task's own builder and differ from the initial ones.
    trained = _build(task, loader)(checkpoint=weights).state_dict()
    assert trained.keys() == initial.keys()
    assert any(not torch.equal(trained[k], initial[k]) for k in trained if trained[k].is_floating_point())


def _build(task, loader):
    if task == "decomposition":
        from vmat.decomposition import mpmat

        return getattr(mpmat, loader)
    import vmat.temporal

    return getattr(vmat.temporal, loader)
