"""Start a model from another model's weights: every tensor whose name and shape both share is copied.

This is how an ablation starts from the full network's weights when it drops a component: the tensors of
the parts that remain are copied, the few whose shape the change alters (e.g. an input projection that
loses the plane masks) start from their fresh initialisation, and the run names them.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from vmat.errors import ConfigError


def warm_start(model: nn.Module, state: Mapping[str, Tensor], source: str = "the checkpoint") -> list[str]:
    """Copy into ``model`` each tensor of ``state`` with a name and shape it shares; returns the names of the
    model's tensors left as they were (in the model's order). Tensors of ``state`` the model lacks are ignored.

    Raises :class:`ConfigError` when no tensor fits (a checkpoint of another model altogether).
    """
    own = model.state_dict()
    fits = {name: tensor for name, tensor in state.items() if name in own and tuple(own[name].shape) == tuple(tensor.shape)}
    if not fits:
        raise ConfigError(f"no weight of {source} fits this model: is it a checkpoint of the same task?")
    with torch.no_grad():
        for name, tensor in fits.items():
            own[name].copy_(tensor)
    return [name for name in own if name not in fits]
