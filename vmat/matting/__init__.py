"""Matting from a coarse mask: a trimap around its outline, closed-form alpha with a colour term in the band."""

from vmat.matting.solve import SolverConfig, solve_band
from vmat.matting.trimap import UNKNOWN, TrimapConfig, trimap_from_mask

__all__ = ["UNKNOWN", "SolverConfig", "TrimapConfig", "solve_band", "trimap_from_mask"]
