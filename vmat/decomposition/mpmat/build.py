"""MP-Mat models by config name, with or without weights."""

from __future__ import annotations

import warnings
from pathlib import Path

from vmat.decomposition.mpmat.checkpoint import load_checkpoint
from vmat.decomposition.mpmat.config import get_config
from vmat.decomposition.mpmat.model import MPMat


def build_mpmat(name: str = "small", checkpoint: str | Path | None = None) -> MPMat:
    """The MP-Mat network of config ``name`` (a key of ``CONFIGS``: "small", "paper" or an ablation), in eval mode.

    With ``checkpoint`` the weights are loaded strictly from that safetensors file. The config stored in the
    checkpoint wins: when it differs from ``name``'s, the model is built from the checkpoint's (with a
    warning), because the weights only fit the network they were trained in. Without a checkpoint the weights
    are random: good for training, not for inference.

    Raises :class:`vmat.errors.ConfigError` for an unknown name and :class:`vmat.depth.CheckpointError` for a
    missing, corrupt or foreign checkpoint.
    """
    config = get_config(name)
    if checkpoint is None:
        return MPMat(config).eval()
    model = load_checkpoint(checkpoint)
    if model.config != config:
        warnings.warn(
            f"Checkpoint {checkpoint} was trained with config {model.config.name!r} ({model.config}); using it "
            f"instead of {name!r}.",
            stacklevel=2,
        )
    return model.eval()
