"""Temporal refiner weights as safetensors files that carry their own config.

Metadata: ``{"format": "vmat-temporal", "version": "1", "config": <TemporalRefinerConfig as JSON>}``. Files
are written atomically (a crash never leaves half a checkpoint under the final name) and read only as
tensors; anything unreadable or not a vmat temporal checkpoint raises :class:`CheckpointError`.
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from vmat.checkpoint import check_model_size, read_with_config, save_with_config
from vmat.depth.checkpoint import CheckpointError, match_state_dict
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig

FORMAT = "vmat-temporal"
VERSION = "1"


def save_temporal_checkpoint(model: TemporalRefiner, path: str | Path) -> Path:
    """Write ``model``'s weights and config to ``path`` (``.safetensors``) atomically; returns the path."""
    return save_with_config(model, model.config.to_dict(), path, format=FORMAT, version=VERSION)


def read_temporal_checkpoint(path: str | Path) -> tuple[TemporalRefinerConfig, dict[str, Tensor]]:
    """The config and state dict stored at ``path``, read onto the CPU without running code."""
    stored, state = read_with_config(path, format=FORMAT, version=VERSION, what="temporal refiner")
    try:
        config = TemporalRefinerConfig(**stored)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds no valid temporal refiner config ({type(error).__name__}).") from error
    check_model_size(lambda: TemporalRefiner(config), path, "temporal refiner")
    return config, state


def load_temporal_checkpoint(path: str | Path) -> TemporalRefiner:
    """The refiner saved at ``path``, in eval mode on the CPU."""
    config, state = read_temporal_checkpoint(path)
    model = TemporalRefiner(config)
    model.load_state_dict(match_state_dict(state, model.state_dict(), str(path)))
    return model.eval()
