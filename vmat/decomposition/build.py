"""Decomposers by name, as the command line, the pipeline and ``vmat eval`` ask for them."""

from __future__ import annotations

from pathlib import Path

import torch

from vmat.decomposition.mask_matting import MaskMattingConfig, MaskMattingDecomposer
from vmat.decomposition.mpmat import NetworkDecomposer, build_mpmat
from vmat.errors import ConfigError
from vmat.weights import shipped

DECOMPOSERS = ("mask-matting", "mask-matting-fast", "mpmat")
WEIGHT_FREE = {"mask-matting": MaskMattingConfig(), "mask-matting-fast": MaskMattingConfig(solver="guided-filter")}
DEFAULT_DECOMPOSER = "mask-matting"  # what build_decomposer() gives; `vmat eval` scores it as "default"
SHIPPED_MPMAT = "mpmat_small.safetensors"


def shipped_mpmat_checkpoint() -> Path | None:
    """The small MP-Mat weights that ship inside the package, if this install has them."""
    return shipped(SHIPPED_MPMAT)


def check_decomposer(name: str, checkpoint: str | Path | None = None) -> None:
    """Fail early, before any work, on a decomposer :func:`build_decomposer` could not build."""
    if name not in DECOMPOSERS:
        raise ConfigError(f"Unknown decomposer {name!r}; choose one of {', '.join(DECOMPOSERS)}.")
    if name in WEIGHT_FREE and checkpoint is not None:
        raise ConfigError(f"The {name} decomposer uses no weights, so a checkpoint cannot be given to it.")
    if name == "mpmat" and checkpoint is None and shipped_mpmat_checkpoint() is None:
        raise ConfigError(
            "This vmat has no shipped MP-Mat weights: train some with `vmat train decomposition` and pass the checkpoint."
        )
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ConfigError(f"The decomposer checkpoint {str(checkpoint)!r} does not exist.")


def build_decomposer(
    name: str = DEFAULT_DECOMPOSER,
    *,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    max_side: int = 512,
) -> MaskMattingDecomposer | NetworkDecomposer:
    """Build a decomposer by name.

    - ``"mask-matting"`` (weight-free): closed-form mattes in a trimap band around the instance masks.
    - ``"mask-matting-fast"`` (weight-free): the previous guided-filter mattes; at a processing size of 640
      about a quarter of the closed-form cost, with harder edges (docs/results/real_alpha.md).
    - ``"mpmat"``: the MP-Mat network, from ``checkpoint`` or else the package's shipped small weights, run
      with the frame's longer side at most ``max_side``.
    """
    check_decomposer(name, checkpoint)
    if name in WEIGHT_FREE:
        return MaskMattingDecomposer(WEIGHT_FREE[name])
    return NetworkDecomposer(build_mpmat("small", checkpoint or shipped_mpmat_checkpoint()), max_side=max_side, device=device)
