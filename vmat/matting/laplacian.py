"""The closed-form matting system (Levin, Lischinski and Weiss, 2008) restricted to a trimap's unknown pixels.

Alpha is assumed locally an affine function of colour in every 3x3 window; minimising that assumption's
residual over all windows gives the quadratic form ``alpha^T L alpha`` with the matting Laplacian

    L_ij = sum over windows w containing i and j of  delta_ij - (1 + (I_i - mu_w)^T (S_w + eps/9 Id)^-1 (I_j - mu_w)) / 9

(``mu_w``, ``S_w``: the window's colour mean and covariance). With the trimap's known pixels fixed, the
unknown alphas solve ``L_UU alpha_U = -L_UK alpha_K``. Only windows that touch an unknown pixel matter, so
the system is built from those alone: its cost follows the band, not the image. Every row couples a pixel
to its 5x5 neighbourhood, so the matrix is stored as 25 stencil coefficients per unknown pixel, summed with
one ``bincount`` (no sparse-matrix duplicate summing) and handed to SciPy as a CSR matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse


# The 3x3 window's offsets (dy, dx) and the 5x5 stencil offsets two window pixels can be apart.
_WINDOW = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
_STENCIL = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)]


@dataclass(frozen=True)
class BandSystem:
    """``matrix`` (N, N) CSR, symmetric positive semi-definite, and ``rhs`` (N,): ``matrix @ alpha_U = rhs``
    for the ``N`` unknown pixels ``unknown`` ((H, W) bool) in row-major order."""

    matrix: scipy.sparse.csr_matrix
    rhs: np.ndarray
    unknown: np.ndarray


def _inverse_3x3(matrix: np.ndarray) -> np.ndarray:
    """The inverses of ``matrix (n, 3, 3)`` symmetric positive definite, by the adjugate (a batched
    ``np.linalg.inv`` pays a LAPACK call per matrix)."""
    s00, s01, s02 = matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 0, 2]
    s11, s12, s22 = matrix[:, 1, 1], matrix[:, 1, 2], matrix[:, 2, 2]
    i00, i01, i02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    i11, i12, i22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    adjugate = np.stack([i00, i01, i02, i01, i11, i12, i02, i12, i22], axis=1).reshape(-1, 3, 3)
    return adjugate / (s00 * i00 + s01 * i01 + s02 * i02)[:, None, None]


def band_system(image: np.ndarray, known_alpha: np.ndarray, unknown: np.ndarray, eps: float = 1e-7) -> BandSystem:
    """The closed-form system over the ``unknown (H, W)`` bool pixels of ``image (H, W, 3)`` float in [0, 1];
    ``known_alpha (H, W)`` holds the alpha of every other pixel (its values under ``unknown`` are ignored).

    Windows are the 3x3 ones fully inside the image, as in Levin et al.; ``eps`` is their regulariser.
    """
    height, width = unknown.shape
    image = np.ascontiguousarray(image, np.float64)
    # Window centres: interior pixels whose window holds an unknown pixel.
    centres = cv2.dilate(unknown.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    centres[[0, -1], :] = False
    centres[:, [0, -1]] = False
    cy, cx = np.nonzero(centres)
    if cy.size == 0:
        return BandSystem(scipy.sparse.csr_matrix((0, 0)), np.zeros(0), unknown)
    wy = cy[:, None] + np.array([dy for dy, _ in _WINDOW])  # (n, 9) the window's pixels
    wx = cx[:, None] + np.array([dx for _, dx in _WINDOW])
    centred = image[wy, wx] - cv2.blur(image, (3, 3))[cy, cx][:, None, :]  # (n, 9, 3) colour minus window mean
    covariance = np.matmul(centred.transpose(0, 2, 1), centred) / 9 + (eps / 9) * np.eye(3)
    whitened = np.matmul(centred, _inverse_3x3(covariance))  # (n, 9, 3)
    values = np.eye(9) - (1.0 + np.matmul(whitened, centred.transpose(0, 2, 1))) / 9.0  # (n, 9, 9)

    index = np.full((height, width), -1, np.int64)
    index[unknown] = np.arange(int(unknown.sum()))
    count = int(unknown.sum())
    rows = index[wy, wx]  # (n, 9): the unknown index of each window pixel, -1 if known
    # Window pixel a couples to pixel b at stencil offset (b - a); its slot in the 5x5 stencil:
    offset_a = np.array([(dy + 1) * 5 + (dx + 1) for dy, dx in _WINDOW])  # shifts a window offset to the stencil
    slot = (offset_a[None, :] - offset_a[:, None]) + 12  # (9, 9) stencil slot of the pair (a, b)
    # Only rows of unknown pixels are kept: known window pixels' rows belong to no equation.
    window, pixel = np.nonzero(rows >= 0)
    key = rows[window, pixel][:, None] * 25 + slot[pixel]  # (m, 9)
    stencil = np.bincount(key.ravel(), weights=values[window, pixel].ravel(), minlength=count * 25).reshape(count, 25)

    # Columns: each unknown pixel's 25 neighbours; unknown ones stay in the matrix, known ones move to the rhs.
    uy, ux = np.nonzero(unknown)
    ny = uy[:, None] + np.array([dy for dy, _ in _STENCIL])
    nx = ux[:, None] + np.array([dx for _, dx in _STENCIL])
    inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
    ny, nx = ny.clip(0, height - 1), nx.clip(0, width - 1)
    column = np.where(inside, index[ny, nx], -1)
    rhs = -(stencil * np.where(inside & (column < 0), known_alpha[ny, nx], 0.0)).sum(1)
    in_matrix = column >= 0
    matrix = scipy.sparse.csr_matrix(
        (stencil[in_matrix], column[in_matrix], np.concatenate([[0], np.cumsum(in_matrix.sum(1))])), shape=(count, count)
    )
    return BandSystem(matrix, rhs, unknown)
