"""What the trainer trains: each task names its model builder, loss, save function and batch kind.

The models live with their stages (:mod:`vmat.decomposition.mpmat`, :mod:`vmat.temporal`) and are imported
only when their task runs, so the trainer itself depends on neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from vmat.errors import ConfigError

Loss = Callable[[nn.Module, dict[str, Tensor]], tuple[Tensor, dict[str, float]]]


@dataclass(frozen=True)
class Task:
    """A trainable model. ``build(model_name)`` returns a fresh model in training mode; ``read_weights(path)``
    the state dict of one of the task's checkpoints (for ``--init``)."""

    name: str
    build: Callable[[str], nn.Module]
    read_weights: Callable[[Path], Mapping[str, Tensor]]
    loss: Loss
    save: Callable[[nn.Module, Path], object]
    sequences: bool  # batches carry a time axis (and the weight-free decomposer's coarse mattes)
    adamw_lr: float  # the default AdamW rate
    # ``validate(weights, folder) -> {metric: value}`` on real data, lower is better; None: not validated.
    validate: Callable[[Path, Path], dict[str, float]] | None = None


def _build_mpmat(name: str) -> nn.Module:
    from vmat.decomposition.mpmat import build_mpmat

    return build_mpmat(name).train()


def _read_mpmat(path: Path) -> Mapping[str, Tensor]:
    from vmat.decomposition.mpmat import read_checkpoint

    return read_checkpoint(path)[1]


def _mpmat_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    from vmat.decomposition.mpmat import mpmat_loss

    return mpmat_loss(model(batch["image"], batch["depth"], batch["guidance"]), batch)


def _save_mpmat(model: nn.Module, path: Path) -> object:
    from vmat.decomposition.mpmat import save_checkpoint

    return save_checkpoint(model, path)


def _validate_mpmat(weights: Path, folder: Path) -> dict[str, float]:
    from vmat.training.validation import validate_mpmat

    return validate_mpmat(weights, folder)


def _build_temporal(name: str) -> nn.Module:
    from vmat.temporal import build_temporal_refiner

    return build_temporal_refiner(name).train()


def _read_temporal(path: Path) -> Mapping[str, Tensor]:
    from vmat.temporal import read_temporal_checkpoint

    return read_temporal_checkpoint(path)[1]


def _temporal_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    from vmat.temporal import temporal_loss

    return temporal_loss(model, batch)


def _save_temporal(model: nn.Module, path: Path) -> object:
    from vmat.temporal import save_temporal_checkpoint

    return save_temporal_checkpoint(model, path)


TASKS: dict[str, Task] = {
    # MaGGIe's rates: 1.5e-4 for image training (8.2), 5e-5 for video training (9.2).
    "decomposition": Task("decomposition", _build_mpmat, _read_mpmat, _mpmat_loss, _save_mpmat, sequences=False, adamw_lr=1.5e-4,
                          validate=_validate_mpmat),
    "temporal": Task("temporal", _build_temporal, _read_temporal, _temporal_loss, _save_temporal, sequences=True, adamw_lr=5e-5),
}


def get_task(task: str | Task) -> Task:
    """The registered task of that name (a :class:`Task` passes through); unknown names raise :class:`ConfigError`."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ConfigError(f"unknown training task {task!r}: choose one of {', '.join(TASKS)}.")
    return TASKS[task]
