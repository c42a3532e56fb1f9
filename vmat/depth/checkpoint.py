"""Safe reading of weight files and strict key/shape checking, with errors a user can act on.

Only tensor data is read: ``.pth``/``.pt`` files go through ``torch.load(weights_only=True)`` (no
arbitrary pickled code runs) and ``.safetensors`` through :mod:`safetensors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor

from vmat.errors import VmatError

# How many offending key names an error message lists before summarising the rest as a count.
_KEYS_SHOWN = 3


class CheckpointError(VmatError):
    """A weight file is missing, unreadable, or does not fit the model it is loaded into."""


def load_state_dict_file(path: str | Path) -> dict[str, Tensor]:
    """Read a state dict from a ``.pth``/``.pt`` or ``.safetensors`` file onto the CPU.

    Raises :class:`CheckpointError` when the file does not exist or holds no ``{name: tensor}`` mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint file {path} does not exist.")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    # Arbitrary bytes make the unpicklers fail in arbitrary ways (IndexError, KeyError, ...), so any
    # failure while reading means "not a checkpoint".
    except Exception as exc:
        kind = "safetensors" if path.suffix == ".safetensors" else "PyTorch"
        raise CheckpointError(f"{path} is not a readable {kind} checkpoint ({type(exc).__name__}).") from exc
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of names to tensors).")
    return dict(state)


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_KEYS_SHOWN])
    more = len(keys) - _KEYS_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def match_state_dict(state: Mapping[str, Tensor], expected: Mapping[str, Tensor], name: str) -> Mapping[str, Tensor]:
    """Return ``state`` if its keys and shapes are exactly those of ``expected``.

    Raises :class:`CheckpointError` naming the first missing, unexpected or mis-shaped keys (in the
    model's key order) otherwise. ``name`` identifies the checkpoint in the message.
    """
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshaped = [
        f"{k} {tuple(state[k].shape)} (model wants {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"missing {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected {_listed(unexpected)}")
    if misshaped:
        problems.append(f"wrong shape {_listed(misshaped)}")
    if problems:
        raise CheckpointError(f"Checkpoint {name} does not fit the model: {'; '.join(problems)}.")
    return state
