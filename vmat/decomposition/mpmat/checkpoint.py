"""MP-Mat weights on disk: safetensors with the config and a format version in the metadata."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from vmat.checkpoint import check_model_size, read_with_config, save_with_config

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.model import MPMat
from vmat.depth.checkpoint import CheckpointError, match_state_dict
from vmat.errors import ConfigError

FORMAT = "vmat-mpmat"
VERSION = "1"


def save_checkpoint(model: MPMat, path: str | Path) -> Path:
    """Write ``model``'s weights and config to ``path`` (safetensors), atomically; returns the path.

    Metadata: ``{"format": "vmat-mpmat", "version": "1", "config": <config as JSON>}``.
    """
    return save_with_config(model, model.config.to_dict(), path, format=FORMAT, version=VERSION)


def read_checkpoint(path: str | Path) -> tuple[MPMatConfig, dict[str, Tensor]]:
    """The config and state dict stored in an MP-Mat checkpoint, read onto the CPU without running code.

    Raises :class:`vmat.depth.CheckpointError` when the file is missing, is not safetensors, or is not an
    MP-Mat checkpoint of a version this vmat reads.
    """
    stored, state = read_with_config(path, format=FORMAT, version=VERSION, what="MP-Mat")
    try:
        config = MPMatConfig.from_dict(stored)
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path} holds no valid MP-Mat config in its metadata.") from exc
    check_model_size(lambda: MPMat(config), path, "MP-Mat")
    return config, state


def load_checkpoint(path: str | Path) -> MPMat:
    """An :class:`MPMat` built from the checkpoint's own config, its weights loaded strictly."""
    config, state = read_checkpoint(path)
    model = MPMat(config)
    model.load_state_dict(match_state_dict(state, model.state_dict(), str(path)), strict=True)
    return model
