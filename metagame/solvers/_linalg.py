"""Matrix-vector kernels and the duality gap shared by the zero-sum solvers.

The solvers never call BLAS in their loops: the products below are Numba kernels, and the only
thread pool is Numba's, sized by ``set_num_threads`` and used across bands of rows of a large
matrix and across the games of a batch. Two processes sharing a machine therefore do not
oversubscribe it through BLAS-owned threads. On the 2-core machine a
30 pairs ``A y``, ``x^T A`` of these kernels at 5000x5000 take 0.31 s against 0.44 s for
OpenBLAS's ``dgemv`` (``benchmarks/solvers.py`` measures both in every run).
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


# Below this many matrix entries (of the matrix in a product, of all games in a batch) the
# kernels run on one thread: forking and joining Numba's workers costs more than the work (a
# 450x450 product streams 1.6 MB in about 0.1 ms; Shapley iteration on soccer solves 762 stage
# games per sweep in 2.6 ms on one thread and 22-38 ms on two, on the 2-core machine). Above it
# a product cuts the matrix into a fixed number of bands, whatever the number of threads, so
# that results do not depend on it; 16 bands keep up to 16 cores busy at a cost of 5% at 2.
PARALLEL_MIN_ENTRIES = 200_000
BLOCKS = 16


@njit(cache=True, fastmath=True)
def _rows_times(A, y, out, lo, hi):
    """``out[lo:hi] = A[lo:hi] y``, four rows per pass so each load of ``y`` serves four rows
    (SIMD-reassociated sums; a row's result does not depend on ``lo`` if ``lo`` is a multiple
    of four)."""
    n = A.shape[1]
    i = lo
    while i + 4 <= hi:
        s0 = s1 = s2 = s3 = 0.0
        for j in range(n):
            yj = y[j]
            s0 += A[i, j] * yj
            s1 += A[i + 1, j] * yj
            s2 += A[i + 2, j] * yj
            s3 += A[i + 3, j] * yj
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
        i += 4
    for r in range(i, hi):
        s = 0.0
        for j in range(n):
            s += A[r, j] * y[j]
        out[r] = s


@njit(cache=True)
def _combine_rows(A, x, rows, out):
    """``out = sum_k x[rows[k]] A[rows[k]]``, four rows per pass so each load and store of
    ``out`` serves four rows."""
    out[:] = 0.0
    k = 0
    while k + 4 <= rows.shape[0]:
        r0, r1, r2, r3 = rows[k], rows[k + 1], rows[k + 2], rows[k + 3]
        x0, x1, x2, x3 = x[r0], x[r1], x[r2], x[r3]
        for j in range(A.shape[1]):
            out[j] += x0 * A[r0, j] + x1 * A[r1, j] + x2 * A[r2, j] + x3 * A[r3, j]
        k += 4
    for r in rows[k:]:
        xr = x[r]
        for j in range(A.shape[1]):
            out[j] += xr * A[r, j]


@njit(cache=True, parallel=True)
def _mat_vec_parallel(A, y, out):
    m = A.shape[0]
    size = ((m + BLOCKS - 1) // BLOCKS + 3) // 4 * 4
    for b in prange(BLOCKS):
        _rows_times(A, y, out, min(m, b * size), min(m, (b + 1) * size))


@njit(cache=True, parallel=True)
def _vec_mat_parallel(x, rows, A, out):
    k, n = rows.shape[0], A.shape[1]
    size = ((k + BLOCKS - 1) // BLOCKS + 3) // 4 * 4
    partial = np.empty((BLOCKS, n))
    for b in prange(BLOCKS):
        _combine_rows(A, x, rows[min(k, b * size) : min(k, (b + 1) * size)], partial[b])
    for j in range(n):
        s = 0.0
        for b in range(BLOCKS):
            s += partial[b, j]
        out[j] = s


@njit(cache=True)
def mat_vec(A, y, out):
    """``out = A y``, streaming ``A`` once in row-major order; for a large ``A``, in ``BLOCKS``
    bands of rows shared among Numba's threads."""
    if A.size >= PARALLEL_MIN_ENTRIES:
        _mat_vec_parallel(A, y, out)
    else:
        _rows_times(A, y, out, 0, A.shape[0])


@njit(cache=True)
def vec_mat(x, A, out):
    """``out = x^T A``, streaming only the rows of ``A`` where ``x`` is nonzero (PRM+ and double
    oracle play sparse strategies); for a large ``A``, ``BLOCKS`` bands of those rows are summed
    separately by Numba's threads, then added up."""
    rows = np.flatnonzero(x)
    if rows.shape[0] * A.shape[1] >= PARALLEL_MIN_ENTRIES:
        _vec_mat_parallel(x, rows, A, out)
    else:
        _combine_rows(A, x, rows, out)


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
    environment variable before importing to enlarge it). Processes that share the cores
    should split them: Numba's OpenMP workers spin while they wait, so on 2 cores two
    processes running 300 PRM+ iterations on 3000x3000 games each took 3.1 s with 2 threads
    apiece and 2.0 s with 1 (alone: 0.9 s with 2 threads, 1.7 s with 1).
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
