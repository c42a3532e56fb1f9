"""Stage 4: decomposing each frame into layers (background + one alpha/colour plane per person).

Today: the weight-free decomposer (:class:`MaskMattingDecomposer`). The MP-Mat network joins it here.
"""

from vmat.decomposition.foreground import estimate_foreground
from vmat.decomposition.mask_matting import MaskMattingConfig, MaskMattingDecomposer, soft_matte

__all__ = ["MaskMattingConfig", "MaskMattingDecomposer", "estimate_foreground", "soft_matte"]
from vmat.decomposition.mpmat import MPMat, MPMatOutput, NetworkDecomposer, build_mpmat, mpmat_loss, save_checkpoint

__all__ += ["MPMat", "MPMatOutput", "NetworkDecomposer", "build_mpmat", "mpmat_loss", "save_checkpoint"]
