"""Temporal refiner weights as safetensors files that carry their own config.

Metadata: ``{"format": "vmat-temporal", "version": "1", "config": <TemporalRefinerConfig as JSON>}``. Files
are written atomically (a crash never leaves half a checkpoint under the final name) and read only as
tensors; anything unreadable or not a vmat temporal checkpoint raises :class:`CheckpointError`.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from vmat.depth.checkpoint import CheckpointError, match_state_dict
from vmat.io.atomic import atomic_output
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig

FORMAT = "vmat-temporal"
VERSION = "1"


def save_temporal_checkpoint(model: TemporalRefiner, path: str | Path) -> Path:
    """Write ``model``'s weights and config to ``path`` (``.safetensors``) atomically; returns the path."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"format": FORMAT, "version": VERSION, "config": json.dumps(model.config.to_dict(), sort_keys=True)}
    with atomic_output(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)
    return Path(path)


def load_temporal_checkpoint(path: str | Path) -> TemporalRefiner:
    """The refiner saved at ``path``, in eval mode on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Temporal checkpoint {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    # Arbitrary bytes fail inside the safetensors reader in arbitrary ways: any failure means "not a checkpoint".
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint ({type(error).__name__}).") from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a vmat temporal refiner checkpoint.")
    if metadata.get("version") != VERSION:
        raise CheckpointError(f"{path} has temporal checkpoint version {metadata.get('version')!r}; this vmat reads version {VERSION}.")
    try:
        config = TemporalRefinerConfig(**json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds no valid temporal refiner config ({type(error).__name__}).") from error
    model = TemporalRefiner(config)
    model.load_state_dict(match_state_dict(state, model.state_dict(), str(path)))
    return model.eval()
