"""What the trainer trains: each task names its model builder, loss, save function and batch kind.

The models live with their stages (:mod:`vmat.decomposition.mpmat`, :mod:`vmat.temporal`) and are imported
only when their task runs, so the trainer itself depends on neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from vmat.errors import ConfigError

Loss = Callable[[nn.Module, dict[str, Tensor]], tuple[Tensor, dict[str, float]]]


@dataclass(frozen=True)
class Task:
    """A trainable model. ``build(model_name, init_checkpoint_or_None)`` returns the model in training mode."""

    name: str
    build: Callable[[str, Path | None], nn.Module]
    loss: Loss
    save: Callable[[nn.Module, Path], object]
    sequences: bool  # batches carry a time axis (and the weight-free decomposer's coarse mattes)
    adamw_lr: float  # the default AdamW rate


def _build_mpmat(name: str, init: Path | None) -> nn.Module:
    from vmat.decomposition.mpmat import build_mpmat

    return build_mpmat(name, checkpoint=None if init is None else str(init)).train()


def _mpmat_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    from vmat.decomposition.mpmat import mpmat_loss

    return mpmat_loss(model(batch["image"], batch["depth"], batch["guidance"]), batch)


def _save_mpmat(model: nn.Module, path: Path) -> object:
    from vmat.decomposition.mpmat import save_checkpoint

    return save_checkpoint(model, path)


def _build_temporal(name: str, init: Path | None) -> nn.Module:
    from vmat.temporal import build_temporal_refiner

    return build_temporal_refiner(name, checkpoint=init).train()


def _temporal_loss(model: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
    from vmat.temporal import temporal_loss

    return temporal_loss(model, batch)


def _save_temporal(model: nn.Module, path: Path) -> object:
    from vmat.temporal import save_temporal_checkpoint

    return save_temporal_checkpoint(model, path)


TASKS: dict[str, Task] = {
    # MaGGIe's rates: 1.5e-4 for image training (8.2), 5e-5 for video training (9.2).
    "decomposition": Task("decomposition", _build_mpmat, _mpmat_loss, _save_mpmat, sequences=False, adamw_lr=1.5e-4),
    "temporal": Task("temporal", _build_temporal, _temporal_loss, _save_temporal, sequences=True, adamw_lr=5e-5),
}


def get_task(task: str | Task) -> Task:
    """The registered task of that name (a :class:`Task` passes through); unknown names raise :class:`ConfigError`."""
    if isinstance(task, Task):
        return task
    if task not in TASKS:
        raise ConfigError(f"unknown training task {task!r}: choose one of {', '.join(TASKS)}.")
    return TASKS[task]
