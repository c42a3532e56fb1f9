"""Model weights on disk: safetensors files that carry their model's config and a format name and version.

Every learned model of vmat (MP-Mat, the temporal refiner) saves and loads through these two functions, so
all checkpoints are written atomically (a crash never leaves half a file under the final name), read only
as tensors (no code runs), and refused with one clear :class:`~vmat.depth.checkpoint.CheckpointError`
when they are missing, unreadable, of another format or of another version.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from vmat.depth.checkpoint import CheckpointError
from vmat.io.atomic import atomic_output
from vmat.limits import MAX_MODEL_PARAMETERS


def save_with_config(model: nn.Module, config: dict[str, Any], path: str | Path, *, format: str, version: str) -> Path:
    """Write ``model``'s state dict to ``path`` with metadata ``{"format", "version", "config": JSON}``."""
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    metadata = {"format": format, "version": version, "config": json.dumps(config, sort_keys=True)}
    with atomic_output(path) as temporary:
        save_file(state, str(temporary), metadata=metadata)
    return Path(path)


def read_with_config(path: str | Path, *, format: str, version: str, what: str) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The config (as stored) and the tensors of a checkpoint of ``format`` and ``version``, on the CPU.

    ``what`` names the model in error messages (e.g. ``"MP-Mat"``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} checkpoint {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = handle.metadata() or {}
            state = {name: handle.get_tensor(name) for name in handle.keys()}
    # Arbitrary bytes make the reader fail in arbitrary ways, so any failure means "not safetensors".
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors file ({type(error).__name__}).") from error
    if metadata.get("format") != format:
        raise CheckpointError(f"{path} is not a vmat {what} checkpoint (its metadata has no format {format!r}).")
    if metadata.get("version") != version:
        raise CheckpointError(f"{path} is {what} checkpoint version {metadata.get('version')!r}; this vmat reads {version!r}.")
    try:
        config = json.loads(metadata["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds no valid {what} config in its metadata.") from error
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} holds no valid {what} config in its metadata.")
    return config, state


def check_model_size(build: Callable[[], nn.Module], path: str | Path, what: str) -> None:
    """Refuse a checkpoint whose config cannot build a model, or builds one of more than
    :data:`~vmat.limits.MAX_MODEL_PARAMETERS` parameters, before any weight memory is allocated.

    ``build`` is run on PyTorch's meta device, where tensors have shapes but no storage.
    """
    try:
        with torch.device("meta"):
            model = build()
    # A config's values reach layer constructors, which fail in many ways on nonsense (a float width, 0 heads).
    except Exception as error:
        raise CheckpointError(f"{path}'s {what} config cannot build a model ({type(error).__name__}: {error}).") from None
    count = sum(tensor.numel() for tensor in (*model.parameters(), *model.buffers()))
    if count > MAX_MODEL_PARAMETERS:
        raise CheckpointError(
            f"{path}'s {what} config asks for {count:,} parameters, more than the {MAX_MODEL_PARAMETERS:,} vmat builds."
        )
