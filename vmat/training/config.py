"""The training configuration and the learning-rate schedules."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from vmat.errors import ConfigError

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("constant", "cosine", "poly")
# Settings that may change when a run is resumed: they do not change what is computed.
RESUMABLE = frozenset({"threads", "device", "out", "log_every", "checkpoint_every", "cache", "stop_after"})
GUIDANCE = ("default", "realistic")


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``None`` values take the optimiser's defaults (:meth:`resolved`).

    AdamW with a cosine decay after a warm-up is MaGGIe's recipe (supplementary 8.2, 9.2); the MP-Mat
    paper's (appendix B.1) is SGD, momentum 0.9, weight decay 5e-4, lr 0.01 and the poly schedule
    ``lr * (1 - step / steps) ** 0.9``.
    """

    model: str = "small"
    steps: int = 2000
    batch_size: int = 4
    crop: tuple[int, int] = (80, 128)  # (height, width)
    sequence_length: int = 5  # T of temporal batches (MaGGIe 9.2)
    slots: int = 6  # M guidance slots
    optimizer: str = "adamw"
    lr: float | None = None  # None: the task's AdamW rate, or 0.01 for SGD
    schedule: str | None = None  # None: cosine for AdamW, poly for SGD
    weight_decay: float | None = None  # None: 0.01 for AdamW, 5e-4 for SGD
    warmup_fraction: float = 0.05  # of the steps, linear warm-up before the cosine decay
    seed: int = 0
    threads: int = 2
    device: str = "cpu"  # a torch device name, e.g. "cuda"
    out: Path = Path("out") / "train"
    log_every: int = 10
    checkpoint_every: int = 100
    cache: Path = Path("out") / "train-cache"
    cache_clips: int = 48
    cache_frames: int = 12
    cache_size: tuple[int, int] = (160, 96)  # (width, height) of the rendered frames
    cache_seed: int = 0
    init: Path | None = None  # weights to start from (a fresh run only)
    stop_after: int | None = None  # end this run after this step, leaving a checkpoint to resume from
    guidance: str = "default"  # "realistic" adds holes and coarse polygons to the perturbed masks
    zoom: float = 1.0  # crops are cut up to this many times smaller and scaled up: larger people
    validate_on: Path | None = None  # a real-alpha folder scored at every checkpoint (decomposition only)

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimiser {self.optimizer!r}: choose one of {', '.join(OPTIMIZERS)}.")
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}: choose one of {', '.join(SCHEDULES)}.")
        positive = {"steps": self.steps, "batch size": self.batch_size, "sequence length": self.sequence_length,
                    "slots": self.slots, "threads": self.threads, "log interval": self.log_every,
                    "checkpoint interval": self.checkpoint_every, "cache clips": self.cache_clips,
                    "cache frames": self.cache_frames}
        for name, value in positive.items():
            if value < 1:
                raise ConfigError(f"the {name} must be at least 1, not {value}.")
        if min(self.crop) < 1:
            raise ConfigError(f"the crop {self.crop[0]}x{self.crop[1]} must be positive.")
        if self.lr is not None and not self.lr > 0:
            raise ConfigError(f"the learning rate must be positive, not {self.lr}.")
        try:
            device = torch.device(self.device)
        except RuntimeError:
            raise ConfigError(f"unknown device {self.device!r}: use e.g. cpu or cuda.") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} is not available to this torch build.")
        if self.guidance not in GUIDANCE:
            raise ConfigError(f"unknown guidance {self.guidance!r}: choose one of {', '.join(GUIDANCE)}.")
        if not self.zoom >= 1.0:
            raise ConfigError(f"the zoom must be 1 or more, not {self.zoom}.")
        if self.stop_after is not None and not 1 <= self.stop_after <= self.steps:
            raise ConfigError(f"--stop-after must lie between 1 and the {self.steps} steps, not {self.stop_after}.")

    def resolved(self, adamw_lr: float) -> TrainConfig:
        """This config with every ``None`` default filled in (``adamw_lr`` is the task's AdamW rate)."""
        sgd = self.optimizer == "sgd"
        return TrainConfig(**(asdict(self) | {
            "lr": self.lr if self.lr is not None else (0.01 if sgd else adamw_lr),
            "schedule": self.schedule or ("poly" if sgd else "cosine"),
            "weight_decay": self.weight_decay if self.weight_decay is not None else (5e-4 if sgd else 0.01),
        }))

    def to_json(self) -> dict:
        """Plain JSON values (paths as strings, tuples as lists)."""
        data = {}
        for item in fields(self):
            value = getattr(self, item.name)
            data[item.name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        return data


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate for step ``step`` (0-based) of a resolved config."""
    progress = step / config.steps
    if config.schedule == "poly":
        return config.lr * (1.0 - progress) ** 0.9
    if config.schedule == "cosine":
        warmup = round(config.warmup_fraction * config.steps)
        if step < warmup:
            return config.lr * (step + 1) / warmup
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(config.steps - warmup, 1)))
    return config.lr


def parse_crop(text: str) -> tuple[int, int]:
    """``"80x128"`` (height x width) -> ``(80, 128)``; raises :class:`ConfigError` otherwise."""
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ConfigError(f"the crop must look like 80x128 (height x width), not {text!r}.") from None
    if height < 1 or width < 1:
        raise ConfigError(f"the crop must be positive, not {text!r}.")
    return height, width
