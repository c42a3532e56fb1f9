"""Temporal refiners by name, for the trainer, the pipeline and ``vmat eval``."""

from __future__ import annotations

from pathlib import Path

from vmat.errors import ConfigError
from vmat.weights import shipped
from vmat.temporal.checkpoint import load_temporal_checkpoint
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig

TEMPORAL_REFINERS: dict[str, TemporalRefinerConfig] = {
    "small": TemporalRefinerConfig(),
    # The table-13 ablation rows: the same refiner with fewer Conv-GRU directions.
    "small-forward": TemporalRefinerConfig(gru="forward"),
    "small-nogru": TemporalRefinerConfig(gru="none"),
}


SHIPPED_TEMPORAL = "temporal_small.safetensors"


def shipped_temporal_checkpoint() -> Path | None:
    """The small temporal refiner's weights that ship inside the package, if this install has them."""
    return shipped(SHIPPED_TEMPORAL)


def build_temporal_refiner(name: str = "small", checkpoint: str | Path | None = None) -> TemporalRefiner:
    """A fresh refiner of the named size (training mode), or, with ``checkpoint``, the saved one (eval mode).

    A checkpoint carries its own config, so ``name`` is then ignored. Raises :class:`ConfigError` for an
    unknown name and :class:`~vmat.depth.checkpoint.CheckpointError` for a bad checkpoint file.
    """
    if checkpoint is not None:
        return load_temporal_checkpoint(checkpoint)
    if name not in TEMPORAL_REFINERS:
        raise ConfigError(f"unknown temporal refiner {name!r}: choose one of {', '.join(TEMPORAL_REFINERS)}.")
    return TemporalRefiner(TEMPORAL_REFINERS[name])
