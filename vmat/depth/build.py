"""Depth stages by name, as the command line and pipelines ask for them."""

from __future__ import annotations

from pathlib import Path

import torch

from vmat.depth.base import DepthEstimator
from vmat.depth.depth_anything_v2 import DepthAnythingV2Config, DepthAnythingV2Estimator, load_depth_anything_v2
from vmat.depth.ground_plane import GroundPlaneConfig, GroundPlaneDepth
from vmat.errors import ConfigError

DEPTH_ESTIMATORS = ("ground-plane", "dav2-small")


def build_depth_estimator(
    name: str = "ground-plane",
    *,
    checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    input_size: int = 518,
    horizon: float = 0.4,
) -> DepthEstimator:
    """Build a depth stage by name.

    - ``"ground-plane"`` (default, weight-free): ground-plane prior refined by instance masks;
      ``horizon`` is the horizon row as a fraction of the frame height. Runs on CPU unless ``device``.
    - ``"dav2-small"``: Depth-Anything-V2-Small loaded strictly from ``checkpoint`` (``.pth`` or
      ``.safetensors``), fed frames with short side ``input_size``. ``device`` defaults to CUDA if present.

    Raises :class:`vmat.errors.ConfigError` for an unknown name, a missing ``checkpoint`` for
    ``dav2-small`` or a checkpoint given to a weight-free stage, and :class:`vmat.depth.CheckpointError`
    for a bad checkpoint file.
    """
    if name == "ground-plane":
        if checkpoint is not None:
            raise ConfigError("The ground-plane depth stage uses no weights, so a checkpoint cannot be given to it.")
        return GroundPlaneDepth(GroundPlaneConfig(horizon=horizon), device=device or "cpu")
    if name == "dav2-small":
        if checkpoint is None:
            raise ConfigError("The dav2-small depth stage needs the path of depth_anything_v2_vits.pth as its checkpoint.")
        if input_size < 14:
            raise ConfigError(f"The depth input size must be at least 14 pixels, not {input_size}.")
        model = load_depth_anything_v2(checkpoint, device=device)
        return DepthAnythingV2Estimator(model, DepthAnythingV2Config(input_size=input_size))
    raise ConfigError(f"Unknown depth stage {name!r}; choose one of {', '.join(DEPTH_ESTIMATORS)}.")
