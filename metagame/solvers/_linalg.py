"""Matrix-vector kernels and the duality gap shared by the zero-sum solvers.

The solvers never call BLAS in their loops: the products below are Numba kernels whose thread
count is Numba's (``metagame.solvers.set_num_threads``), so two processes sharing a machine do
not oversubscribe it through a second, BLAS-owned thread pool.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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


@njit(parallel=True, cache=True)
def mat_vec(A, y, out):
    """``out = A y`` with rows split over threads."""
    m, n = A.shape
    for i in prange(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * y[j]
        out[i] = s


@njit(parallel=True, cache=True)
def vec_mat(x, A, out):
    """``out = x^T A``: each thread owns a block of columns and streams every row over it."""
    m, n = A.shape
    blocks = max(1, min(n // 256, 64))
    width = (n + blocks - 1) // blocks
    for b in prange(blocks):
        lo = b * width
        hi = min(n, lo + width)
        for j in range(lo, hi):
            out[j] = 0.0
        for i in range(m):
            xi = x[i]
            if xi != 0.0:
                for j in range(lo, hi):
                    out[j] += xi * A[i, j]


def nash_gap(A: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """NashConv of ``(x, y)`` in the zero-sum game ``A``, computed from the strategies alone."""
    Ay = np.empty(A.shape[0])
    xA = np.empty(A.shape[1])
    mat_vec(A, y, Ay)
    vec_mat(x, A, xA)
    return max(float(Ay.max() - xA.min()), 0.0)


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
