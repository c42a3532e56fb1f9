"""Conjugate gradients for the sparse symmetric positive definite systems of matting and seam blending."""

from __future__ import annotations

import numpy as np
import scipy.sparse


def conjugate_gradients(
    matrix: scipy.sparse.spmatrix,
    right: np.ndarray,
    start: np.ndarray,
    *,
    iterations: int,
    tolerance: float,
    jacobi: bool = False,
) -> tuple[np.ndarray, int]:
    """Solve ``matrix @ x = right`` from ``start`` by conjugate gradients.

    Args:
        matrix: ``(n, n)`` sparse, symmetric positive definite.
        right: ``(n,)`` the right-hand side.
        start: ``(n,)`` the first guess (a warm start close to the answer is why a few steps suffice in the
            pipeline: the previous frame's alpha, a coarse grid's solution).
        iterations: the most steps taken.
        tolerance: stop once the residual's norm is below this fraction of ``right``'s.
        jacobi: precondition by the matrix's diagonal (the matting systems, whose diagonal varies with the
            image; a Poisson system's is nearly constant, and the plain steps cost less).

    Returns:
        ``(x, steps)``: ``(n,)`` float64 and the steps taken.
    """
    right = np.ascontiguousarray(right, np.float64)
    solution = np.array(start, np.float64)
    limit = tolerance * float(np.sqrt(right.dot(right)))
    if limit == 0:
        return np.zeros_like(right), 0
    residual = right - matrix @ solution if solution.any() else right.copy()
    inverse = None
    if jacobi:
        diagonal = matrix.diagonal()
        inverse = np.where(diagonal > 0, 1.0 / np.where(diagonal > 0, diagonal, 1.0), 1.0)
    # The preconditioned residual, and r . z, the step's numerator (r . r without a preconditioner, which
    # is also the residual's squared norm the stopping test needs: computed once).
    preconditioned = residual if inverse is None else inverse * residual
    product = residual.dot(preconditioned)
    direction = preconditioned.copy()
    scaled = np.empty_like(residual)
    for step in range(iterations):
        norm = np.sqrt(product if inverse is None else residual.dot(residual))
        if norm < limit:
            return solution, step
        image = matrix @ direction
        curvature = direction.dot(image)
        if curvature <= 0:  # rounding on a nearly singular system: no further descent
            return solution, step
        size = product / curvature
        solution += np.multiply(size, direction, out=scaled)
        residual -= np.multiply(size, image, out=scaled)
        preconditioned = residual if inverse is None else inverse * residual
        following = residual.dot(preconditioned)
        direction *= following / product
        direction += preconditioned
        product = following
    return solution, iterations
