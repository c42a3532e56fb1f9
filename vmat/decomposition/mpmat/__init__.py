"""MP-Mat (ICLR 2025, section 3): the learned per-frame decomposition into background and person planes.

``build_mpmat(name, checkpoint)`` gives the network, ``mpmat_loss`` trains it, ``save_checkpoint`` writes its
weights and :class:`NetworkDecomposer` turns it into a frame decomposer for the pipeline.
"""

from vmat.decomposition.mpmat.build import build_mpmat
from vmat.decomposition.mpmat.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from vmat.decomposition.mpmat.config import CONFIGS, MPMatConfig, get_config
from vmat.decomposition.mpmat.decomposer import NetworkDecomposer, fold_into_background
from vmat.decomposition.mpmat.losses import (
    alpha_loss,
    composition_loss,
    laplacian_pyramid,
    laplacian_pyramid_loss,
    masked_l1,
    match_free_queries,
    mpmat_loss,
    plane_targets,
)
from vmat.decomposition.mpmat.model import MPMat, MPMatOutput

__all__ = [
    "CONFIGS",
    "MPMat",
    "MPMatConfig",
    "MPMatOutput",
    "NetworkDecomposer",
    "alpha_loss",
    "build_mpmat",
    "composition_loss",
    "fold_into_background",
    "get_config",
    "laplacian_pyramid",
    "laplacian_pyramid_loss",
    "load_checkpoint",
    "masked_l1",
    "match_free_queries",
    "mpmat_loss",
    "plane_targets",
    "read_checkpoint",
    "save_checkpoint",
]
