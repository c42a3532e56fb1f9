import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg

from vmat.editing.blending import _system
from vmat.linalg import conjugate_gradients


def _poisson_system() -> scipy.sparse.csr_matrix:
    region = np.zeros((12, 14), bool)
    region[2:10, 3:12] = True
    region[5, 0:3] = True  # a strip to the image's border
    return _system(region).matrix


def test_plain_steps_are_scipys_cg_steps():
    matrix = _poisson_system()
    rng = np.random.default_rng(5)
    right, start = rng.normal(size=(2, matrix.shape[0]))
    for first in (start, np.zeros_like(start)):  # a zero start skips the first product
        for iterations in (1, 7, 40, 500):  # 500: it converges and stops early, as scipy does
            expected = scipy.sparse.linalg.cg(matrix, right, x0=first, maxiter=iterations)[0]
            solution, _ = conjugate_gradients(matrix, right, first, iterations=iterations, tolerance=1e-5)
            # The same steps; only the order of floating-point operations may differ between scipy versions.
            np.testing.assert_allclose(solution, expected, rtol=1e-12, atol=1e-12)


def test_nothing_to_solve_gives_zero_from_any_start():
    matrix = _poisson_system()
    start = np.random.default_rng(6).normal(size=matrix.shape[0])
    solution, steps = conjugate_gradients(matrix, np.zeros(matrix.shape[0]), start, iterations=40, tolerance=1e-5)
    assert np.array_equal(solution, np.zeros(matrix.shape[0])) and steps == 0


@pytest.mark.parametrize("jacobi", [False, True])
def test_solves_a_symmetric_positive_definite_system_within_n_steps(jacobi):
    rng = np.random.default_rng(1)
    a = rng.random((30, 30))
    matrix = a @ a.T + 30 * np.eye(30)
    right = rng.random(30)
    solution, steps = conjugate_gradients(
        scipy.sparse.csr_matrix(matrix), right, np.zeros(30), iterations=200, tolerance=1e-12, jacobi=jacobi
    )
    np.testing.assert_allclose(solution, np.linalg.solve(matrix, right), atol=1e-9)
    assert steps <= 31  # conjugate gradients are exact within n steps (up to rounding)


def test_jacobi_solves_a_diagonal_system_in_one_step():
    diagonal = np.array([1e-3, 2.0, 5e2, 7.0, 1e4])
    right = np.array([1.0, -2.0, 3.0, 0.5, 4.0])
    matrix = scipy.sparse.diags(diagonal, format="csr")
    solution, steps = conjugate_gradients(matrix, right, np.zeros(5), iterations=1, tolerance=1e-14, jacobi=True)
    np.testing.assert_allclose(solution, right / diagonal, rtol=1e-14)
    # Without the preconditioner one step is far off on so spread a diagonal.
    plain, _ = conjugate_gradients(matrix, right, np.zeros(5), iterations=1, tolerance=1e-14)
    assert np.abs(plain - right / diagonal).max() > 1.0
