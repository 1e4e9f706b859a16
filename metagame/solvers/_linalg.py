"""Matrix-vector kernels and the duality gap shared by the zero-sum solvers.

The solvers never call BLAS in their loops: the products below are serial Numba kernels, and the
only thread pool is Numba's, used across the games of a batch and sized by ``set_num_threads``.
Two processes sharing a machine therefore do not oversubscribe it through BLAS-owned threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def duality_gap(A, x, y):
    """NashConv ``max_i (A y)_i - min_j (x^T A)_j`` of ``(x, y)``, serially (small games)."""
    m, n = A.shape
    best_row = -np.inf
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * y[j]
        best_row = max(best_row, s)
    worst_col = np.inf
    for j in range(n):
        s = 0.0
        for i in range(m):
            s += x[i] * A[i, j]
        worst_col = min(worst_col, s)
    return max(best_row - worst_col, 0.0)


@njit(cache=True, fastmath=True)
def mat_vec(A, y, out):
    """``out = A y``, streaming ``A`` once in row-major order (SIMD-reassociated sums)."""
    m, n = A.shape
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * y[j]
        out[i] = s


@njit(cache=True)
def vec_mat(x, A, out):
    """``out = x^T A``, streaming ``A`` once in row-major order."""
    m, n = A.shape
    out[:] = 0.0
    for i in range(m):
        xi = x[i]
        if xi != 0.0:
            for j in range(n):
                out[j] += xi * A[i, j]


def certificate(A: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(value x^T A y, NashConv)`` of ``(x, y)`` in the zero-sum game ``A``, from the
    strategies alone, with one ``A y`` and one ``x^T A``."""
    Ay = np.empty(A.shape[0])
    xA = np.empty(A.shape[1])
    mat_vec(A, y, Ay)
    vec_mat(x, A, xA)
    return float(x @ Ay), max(float(Ay.max() - xA.min()), 0.0)


def nash_gap(A: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """NashConv of ``(x, y)`` in the zero-sum game ``A``, computed from the strategies alone."""
    return certificate(A, x, y)[1]


def set_num_threads(n: int) -> int:
    """Use ``n`` threads in the solvers' parallel kernels; returns the previous count.

    ``n`` may not exceed ``NUMBA_NUM_THREADS`` (the pool size fixed at start-up; set that
    environment variable before importing to enlarge it).
    """
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if not (isinstance(n, int | np.integer) and 1 <= n <= limit):
        raise ValueError(f"number of threads must be an integer in [1, {limit}], got {n!r}")
    previous = numba.get_num_threads()
    numba.set_num_threads(int(n))
    return previous


@njit(cache=True)
def _skew_kernel(A, atol):
    n = A.shape[0]
    for i in range(n):
        for j in range(i, n):
            if abs(A[i, j] + A[j, i]) > atol:
                return False
    return True


def is_skew_symmetric(A: np.ndarray, atol: float = 1e-12) -> bool:
    """``A = -A^T`` (a symmetric zero-sum game), with an early exit on the first mismatch."""
    return A.shape[0] == A.shape[1] and bool(_skew_kernel(A, atol))
