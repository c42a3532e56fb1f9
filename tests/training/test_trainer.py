"""The generic loop, with a tiny local model, so it is tested whatever the real models do."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vmat.errors import ConfigError
from vmat.training import Task, TrainConfig, TrainingDivergedError, train
from tests.training.conftest import TINY


class TinyMatter(nn.Module):
    """Predicts the union of the people's mattes from the image; a dropout keeps the torch RNG in play."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 1, 3, padding=1)
        self.dropout = nn.Dropout(0.2)

    def forward(self, image, depth):
        return torch.sigmoid(self.conv(self.dropout(torch.cat([image, depth], 1))))


def _loss(model, batch):
    error = (model(batch["image"], batch["depth"]) - batch["alpha"].sum(1, keepdim=True)).abs().mean()
    return error, {"l1": float(error.detach())}


def _save(model, path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


TINY_TASK = Task(
    "tiny", lambda name: TinyMatter(), lambda path: load_file(str(path)), _loss, _save, sequences=False, adamw_lr=1e-2
)


def _config(tmp_path: Path, cache: Path, **changes) -> TrainConfig:
    return TrainConfig(**({
        "steps": 6, "batch_size": 2, "crop": (32, 48), "threads": 1, "out": tmp_path / "run", "log_every": 2,
        "checkpoint_every": 100, "cache": cache, "cache_clips": TINY["clips"], "cache_frames": TINY["frames_per_clip"],
        "cache_size": (TINY["width"], TINY["height"]), "cache_seed": TINY["seed"],
    } | changes))


def test_straight_run_writes_weights_log_and_summary(tmp_path, tiny_cache_dir):
    weights = train(TINY_TASK, _config(tmp_path, tiny_cache_dir))
    out = tmp_path / "run"
    assert weights == out / "tiny-small.safetensors" and weights.is_file()
    lines = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [2, 4, 6]
    assert set(lines[0]) == {"step", "lr", "loss", "l1"}
    summary = json.loads((out / "train.json").read_text())
    assert summary["finished"] and summary["steps_done"] == 6 and summary["task"] == "tiny"
    assert summary["config"]["lr"] == 1e-2 and summary["config"]["schedule"] == "cosine"
    assert [c["seed"] for c in summary["data"]["clips"]] == [
        c["seed"] for c in json.loads((tiny_cache_dir / "manifest.json").read_text())["clips"]
    ]
    assert summary["final_losses"]["loss"] == lines[-1]["loss"]
    assert summary["wall_seconds"] > 0 and "command" in summary


def test_checkpoint_holds_only_tensors_and_plain_values(tmp_path, tiny_cache_dir):
    train(TINY_TASK, _config(tmp_path, tiny_cache_dir, steps=2))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["step"] == 2 and state["task"] == "tiny"
    assert set(state["model"]) == {"conv.weight", "conv.bias"}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_resumed_run_equals_a_straight_run_bit_for_bit(tmp_path, tiny_cache_dir, optimizer):
    straight = train(TINY_TASK, _config(tmp_path / "a", tiny_cache_dir, optimizer=optimizer))
    first = train(TINY_TASK, _config(tmp_path / "b", tiny_cache_dir, optimizer=optimizer, stop_after=3))
    assert first.name == "checkpoint.pt" and not (tmp_path / "b" / "run" / "tiny-small.safetensors").exists()
    resumed = train(TINY_TASK, _config(tmp_path / "b", tiny_cache_dir, optimizer=optimizer, log_every=1), resume=True)
    a, b = load_file(str(straight)), load_file(str(resumed))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    summary = json.loads((tmp_path / "b" / "run" / "train.json").read_text())
    assert summary["resumed_from_step"] == 3
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "run" / "train.jsonl").read_text().splitlines()]
    assert steps == [2, 3, 4, 5, 6]
    # The run really moved: a different seed gives different weights.
    other = train(TINY_TASK, _config(tmp_path / "c", tiny_cache_dir, optimizer=optimizer, seed=1))
    assert not torch.equal(load_file(str(other))["conv.weight"], a["conv.weight"])


def test_interrupt_leaves_a_checkpoint_to_resume(tmp_path, tiny_cache_dir):
    calls = []

    def interrupting(model, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return _loss(model, batch)

    task = Task("tiny", TINY_TASK.build, TINY_TASK.read_weights, interrupting, _save, sequences=False, adamw_lr=1e-2)
    with pytest.raises(KeyboardInterrupt):
        train(task, _config(tmp_path, tiny_cache_dir))
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["step"] == 2
    train(TINY_TASK, _config(tmp_path, tiny_cache_dir), resume=True)
    assert (tmp_path / "run" / "tiny-small.safetensors").is_file()


def test_run_folder_mistakes_are_config_errors(tmp_path, tiny_cache_dir):
    with pytest.raises(ConfigError, match="no training checkpoint"):
        train(TINY_TASK, _config(tmp_path, tiny_cache_dir), resume=True)
    train(TINY_TASK, _config(tmp_path, tiny_cache_dir, steps=1))
    with pytest.raises(ConfigError, match="already holds"):
        train(TINY_TASK, _config(tmp_path, tiny_cache_dir, steps=1))
    with pytest.raises(ConfigError, match="other lr"):
        train(TINY_TASK, _config(tmp_path, tiny_cache_dir, steps=1, lr=0.5), resume=True)
    with pytest.raises(ConfigError, match="unknown training task"):
        train("segmentation", _config(tmp_path, tiny_cache_dir))


def test_a_diverging_loss_stops_the_run(tmp_path, tiny_cache_dir):
    def nan_loss(model, batch):
        loss, parts = _loss(model, batch)
        return loss * float("nan"), parts

    task = Task("tiny", TINY_TASK.build, TINY_TASK.read_weights, nan_loss, _save, sequences=False, adamw_lr=1e-2)
    with pytest.raises(TrainingDivergedError, match="step 1"):
        train(task, _config(tmp_path, tiny_cache_dir))


def test_init_weights_start_the_run(tmp_path, tiny_cache_dir):
    first = train(TINY_TASK, _config(tmp_path / "a", tiny_cache_dir, steps=2))
    train(TINY_TASK, _config(tmp_path / "b", tiny_cache_dir, steps=1, init=first, schedule="constant", lr=1e-12))
    state = torch.load(tmp_path / "b" / "run" / "checkpoint.pt", weights_only=True)["model"]
    torch.testing.assert_close(state["conv.weight"], load_file(str(first))["conv.weight"], rtol=0, atol=1e-9)
    assert json.loads((tmp_path / "b" / "run" / "train.json").read_text())["init_fresh"] == []


def test_init_weights_that_do_not_all_fit_are_named_at_the_start(tmp_path, tiny_cache_dir, capsys):
    first = train(TINY_TASK, _config(tmp_path / "a", tiny_cache_dir, steps=1))
    partial = tmp_path / "partial.safetensors"
    save_file({"conv.weight": load_file(str(first))["conv.weight"]}, str(partial))
    train(TINY_TASK, _config(tmp_path / "b", tiny_cache_dir, steps=1, init=partial))
    assert "1 of 2 tensors do not fit 'small' and start fresh: conv.bias" in capsys.readouterr().err
    assert json.loads((tmp_path / "b" / "run" / "train.json").read_text())["init_fresh"] == ["conv.bias"]


def test_validation_scores_every_checkpoint_and_keeps_the_best(tmp_path, tiny_cache_dir):
    scores = iter([3.0, 1.0, 2.0])  # the second checkpoint is the best
    seen = []

    def validate(weights, folder):
        seen.append(load_file(str(weights))["conv.weight"].clone())
        value = next(scores)
        return {"sad": value, "mse": 10 * value}

    task = Task("tiny", lambda name: TinyMatter(), lambda path: load_file(str(path)), _loss, _save, sequences=False,
                adamw_lr=1e-2, validate=validate)
    train(task, _config(tmp_path, tiny_cache_dir, checkpoint_every=2, validate_on=tmp_path))
    out = tmp_path / "run"
    lines = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert [(line["step"], line["validation"]["sad"]) for line in lines if "validation" in line] == [(2, 3.0), (4, 1.0), (6, 2.0)]
    torch.testing.assert_close(load_file(str(out / "best-tiny-small.safetensors"))["conv.weight"], seen[1])
    assert not (out / "validation.safetensors").exists()


def test_validation_needs_a_task_that_has_one_and_a_folder(tmp_path, tiny_cache_dir):
    with pytest.raises(ConfigError, match="no validation"):
        train(TINY_TASK, _config(tmp_path, tiny_cache_dir, validate_on=tmp_path))
    task = Task("tiny", lambda name: TinyMatter(), lambda path: load_file(str(path)), _loss, _save, sequences=False,
                adamw_lr=1e-2, validate=lambda weights, folder: {"sad": 0.0})
    with pytest.raises(ConfigError, match="does not exist"):
        train(task, _config(tmp_path / "b", tiny_cache_dir, validate_on=tmp_path / "missing"))
