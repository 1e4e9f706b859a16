"""Matrix-vector kernels and the duality gap shared by the zero-sum solvers.

The solvers never call BLAS in their loops: the products below are Numba kernels, and the only
threads are the solvers' own (``_threads``: at most ``set_num_threads`` of them, across bands of
rows of a large matrix and across the games of a batch, as many as measured to help). Two
processes sharing a machine therefore do not oversubscribe it through BLAS-owned threads. On
the 2-core machine 30 pairs ``A y``, ``x^T A`` of these kernels at 5000x5000 take 0.31 s
against 0.44 s for OpenBLAS's ``dgemv`` (``benchmarks/solvers.py`` measures both in every run).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.solvers._threads import share


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
# kernels run on the calling thread: handing work to other threads costs more than it saves (a
# 450x450 product streams 1.6 MB in about 0.1 ms). Above it a product cuts the matrix into a
# fixed number of bands of rows, whatever the number of threads, so that results do not depend
# on it; ``_threads.share`` runs the bands on one thread or on all, as measured faster.
PARALLEL_MIN_ENTRIES = 200_000
BLOCKS = 16


@njit(cache=True, nogil=True, fastmath=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _band(count, b):
    """Rows ``[lo, hi)`` of band ``b`` of ``BLOCKS`` over ``count`` rows (a multiple of 4 long)."""
    size = ((count + BLOCKS - 1) // BLOCKS + 3) // 4 * 4
    return min(count, b * size), min(count, (b + 1) * size)


@njit(cache=True, nogil=True)
def _mat_vec_band(A, y, out, b):
    lo, hi = _band(A.shape[0], b)
    _rows_times(A, y, out, lo, hi)


@njit(cache=True, nogil=True)
def _vec_mat_band(x, rows, A, partial, b):
    lo, hi = _band(rows.shape[0], b)
    _combine_rows(A, x, rows[lo:hi], partial[b])


@njit(cache=True, nogil=True)
def _sum_bands(partial, out):
    for j in range(out.shape[0]):
        s = 0.0
        for b in range(BLOCKS):
            s += partial[b, j]
        out[j] = s


@njit(cache=True, nogil=True)
def mat_vec_serial(A, y, out):
    """``out = A y`` on the calling thread, streaming ``A`` once in row-major order (the same
    numbers as the banded product: a row's sum does not depend on its band)."""
    _rows_times(A, y, out, 0, A.shape[0])


@njit(cache=True, nogil=True)
def vec_mat_serial(x, A, out):
    """``out = x^T A`` on the calling thread, streaming only the rows of ``A`` where ``x`` is
    nonzero (PRM+ and double oracle play sparse strategies); for a large ``A`` band by band,
    as ``vec_mat`` on threads does, so that the sums come out the same."""
    rows = np.flatnonzero(x)
    if rows.shape[0] * A.shape[1] >= PARALLEL_MIN_ENTRIES:
        partial = np.empty((BLOCKS, A.shape[1]))
        for b in range(BLOCKS):
            _vec_mat_band(x, rows, A, partial, b)
        _sum_bands(partial, out)
    else:
        _combine_rows(A, x, rows, out)


def mat_vec(A: np.ndarray, y: np.ndarray, out: np.ndarray, threads: int | None = None) -> None:
    """``out = A y``; for a large ``A`` its ``BLOCKS`` bands of rows are shared among
    ``threads`` threads (by default one or all, as measured faster: ``_threads.share``)."""
    if A.size < PARALLEL_MIN_ENTRIES:
        mat_vec_serial(A, y, out)
        return
    share(
        lambda b: _mat_vec_band(A, y, out, b),
        BLOCKS,
        lambda: mat_vec_serial(A, y, out),
        threads,
        "product",
        A.size,
    )


def vec_mat(x: np.ndarray, A: np.ndarray, out: np.ndarray, threads: int | None = None) -> None:
    """``out = x^T A`` over the rows where ``x`` is nonzero; for many such rows their ``BLOCKS``
    bands are summed separately (on ``threads`` threads, by default one or all as measured
    faster), then added up in a fixed order, so the result does not depend on the thread count."""
    rows = np.flatnonzero(x)
    entries = rows.size * A.shape[1]
    if entries < PARALLEL_MIN_ENTRIES:
        vec_mat_serial(x, A, out)
        return
    partial = np.empty((BLOCKS, A.shape[1]))
    if share(
        lambda b: _vec_mat_band(x, rows, A, partial, b),
        BLOCKS,
        lambda: vec_mat_serial(x, A, out),
        threads,
        "product",
        entries,
    ):
        _sum_bands(partial, out)


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
    """Allow up to ``n`` threads in the solvers' large kernels (for the calling thread); returns
    the previous count.

    ``n`` may not exceed ``NUMBA_NUM_THREADS`` (set that environment variable before importing
    to enlarge it; it defaults to the number of cores). Within that cap each kind and size of
    work uses one thread or ``n`` (at most the CPUs this process may run on), all ``n`` only
    while probes measure them at least 10% faster (``_threads``); ``n = 1`` keeps every kernel
    on the calling thread.
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
