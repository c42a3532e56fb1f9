"""Preconditioned conjugate gradients for the symmetric positive definite matting systems."""

from __future__ import annotations

import numpy as np
import scipy.sparse


def jacobi_pcg(
    matrix: scipy.sparse.spmatrix, rhs: np.ndarray, x0: np.ndarray, *, iterations: int, tolerance: float = 1e-6
) -> tuple[np.ndarray, int]:
    """Solve ``matrix @ x = rhs`` from ``x0`` by conjugate gradients with the Jacobi (diagonal) preconditioner.

    Stops after ``iterations`` steps or once the residual's norm is below ``tolerance`` times the rhs's.
    Returns ``(x, steps taken)``. A warm start close to the answer (the previous frame's alpha, a filtered
    mask) is why a few steps suffice in the pipeline.
    """
    x = np.array(x0, np.float64)
    diagonal = matrix.diagonal()
    inverse_diagonal = np.where(diagonal > 0, 1.0 / np.where(diagonal > 0, diagonal, 1.0), 1.0)
    residual = rhs - matrix @ x
    limit = tolerance * max(float(np.linalg.norm(rhs)), 1e-12)
    z = inverse_diagonal * residual
    direction = z.copy()
    rz = float(residual @ z)
    for step in range(iterations):
        if float(np.linalg.norm(residual)) <= limit:
            return x, step
        along = matrix @ direction
        curvature = float(direction @ along)
        if curvature <= 0:
            return x, step
        size = rz / curvature
        x += size * direction
        residual -= size * along
        z = inverse_diagonal * residual
        rz_next = float(residual @ z)
        direction = z + (rz_next / rz) * direction
        rz = rz_next
    return x, iterations
