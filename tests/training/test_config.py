import math
from pathlib import Path

import pytest

from vmat.errors import ConfigError
from vmat.training import TrainConfig, learning_rate, parse_crop


def test_parse_crop():
    assert parse_crop("80x128") == (80, 128)
    assert parse_crop("64X96") == (64, 96)
    for bad in ("80", "80x", "ax12", "0x10", "8x-1", "1x2x3"):
        with pytest.raises(ConfigError, match="crop"):
            parse_crop(bad)


def test_optimiser_defaults():
    adamw = TrainConfig().resolved(1.5e-4)
    assert (adamw.lr, adamw.schedule, adamw.weight_decay) == (1.5e-4, "cosine", 0.01)
    sgd = TrainConfig(optimizer="sgd").resolved(1.5e-4)  # MP-Mat appendix B.1
    assert (sgd.lr, sgd.schedule, sgd.weight_decay) == (0.01, "poly", 5e-4)
    mine = TrainConfig(lr=0.5, schedule="constant", weight_decay=0.0).resolved(1.5e-4)
    assert (mine.lr, mine.schedule, mine.weight_decay) == (0.5, "constant", 0.0)


def test_poly_schedule():
    config = TrainConfig(optimizer="sgd", steps=4).resolved(1.0)
    assert learning_rate(config, 0) == 0.01
    assert learning_rate(config, 2) == pytest.approx(0.01 * 0.5**0.9, rel=1e-12)


def test_cosine_schedule_with_warm_up():
    config = TrainConfig(steps=20, lr=1.0, warmup_fraction=0.1).resolved(1.0)  # 2 warm-up steps
    assert [learning_rate(config, s) for s in (0, 1)] == [0.5, 1.0]
    assert learning_rate(config, 2) == 1.0
    assert learning_rate(config, 11) == pytest.approx(0.5 * (1 + math.cos(math.pi * 9 / 18)))
    assert learning_rate(config, 20) == pytest.approx(0.0)


def test_to_json_is_plain():
    data = TrainConfig(out=Path("a/b")).to_json()
    assert data["out"] == "a/b" and data["crop"] == [80, 128] and data["init"] is None


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"optimizer": "adam"}, "optimiser"),
        ({"schedule": "step"}, "schedule"),
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch size"),
        ({"lr": -1.0}, "learning rate"),
        ({"stop_after": 7, "steps": 6}, "stop-after"),
        ({"device": "toaster"}, "device"),
    ],
)
def test_invalid_settings(changes, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**changes).validate()
