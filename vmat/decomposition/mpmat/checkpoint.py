"""MP-Mat weights on disk: safetensors with the config and a format version in the metadata."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from vmat.decomposition.mpmat.config import MPMatConfig
from vmat.decomposition.mpmat.model import MPMat
from vmat.depth.checkpoint import CheckpointError, match_state_dict
from vmat.errors import ConfigError
from vmat.io.atomic import atomic_output

FORMAT = "vmat-mpmat"
VERSION = "1"


def save_checkpoint(model: MPMat, path: str | Path) -> Path:
    """Write ``model``'s weights and config to ``path`` (safetensors), atomically; returns the path.

    Metadata: ``{"format": "vmat-mpmat", "version": "1", "config": <config as JSON>}``.
    """
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"format": FORMAT, "version": VERSION, "config": json.dumps(model.config.to_dict())}
    with atomic_output(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)
    return Path(path)


def read_checkpoint(path: str | Path) -> tuple[MPMatConfig, dict[str, Tensor]]:
    """The config and state dict stored in an MP-Mat checkpoint, read onto the CPU without running code.

    Raises :class:`vmat.depth.CheckpointError` when the file is missing, is not safetensors, or is not an
    MP-Mat checkpoint of a version this vmat reads.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"MP-Mat checkpoint {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    # Arbitrary bytes make the reader fail in arbitrary ways, so any failure means "not safetensors".
    except Exception as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(exc).__name__}).") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an MP-Mat checkpoint (its metadata has no format {FORMAT!r}).")
    if metadata.get("version") != VERSION:
        found = metadata.get("version")
        raise CheckpointError(f"{path} is MP-Mat checkpoint version {found!r}; this vmat reads {VERSION!r}.")
    try:
        config = MPMatConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path} holds no valid MP-Mat config in its metadata.") from exc
    return config, state


def load_checkpoint(path: str | Path) -> MPMat:
    """An :class:`MPMat` built from the checkpoint's own config, its weights loaded strictly."""
    config, state = read_checkpoint(path)
    model = MPMat(config)
    model.load_state_dict(match_state_dict(state, model.state_dict(), str(path)), strict=True)
    return model
