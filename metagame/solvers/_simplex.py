"""Exact solution of small zero-sum matrix games by the dense tableau simplex method.

The game ``A`` (row player maximizes ``x^T A y``) is first mapped affinely onto ``M`` with entries
in ``[1, 2]``, so its value is positive. Von Neumann's linear program for the column player,

    maximize 1^T w  subject to  M w <= 1,  w >= 0,

has the slack basis as a feasible start. At the optimum ``y = w / 1^T w``, the reduced costs of
the slack columns are the dual solution ``u`` with ``x = u / 1^T u``, and the value of ``M`` is
``1 / 1^T w`` (Dantzig 1951, "A proof of the equivalence of the programming problem and the game
problem"). One tableau therefore yields both players' strategies.

Pivoting follows Dantzig's most-negative reduced cost rule and switches to Bland's rule (1977)
after a run of degenerate pivots, which rules out cycling. A ``priority`` mask (a warm start:
the previous column support) is tried first when choosing the entering column.

``simplex_game`` is the Numba kernel, ``simplex_batch`` runs it over a stack of games in
parallel, and ``simplex_game_reference`` is the plain-NumPy twin the tests compare against.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from metagame.solvers._linalg import duality_gap

PIVOT_EPS = 1e-11


@njit(cache=True)
def _pivot_budget(m, n):
    return 50 * (m + n) + 100


@njit(cache=True)
def _scale(A):
    """``(lo, scale)`` of the affine map ``(a - lo) / scale + 1`` onto ``[1, 2]``."""
    lo = A.min()
    scale = A.max() - lo
    if scale <= 0.0:
        scale = 1.0
    return lo, scale


@njit(cache=True)
def _tableau(A, lo, scale):
    m, n = A.shape
    T = np.zeros((m + 1, n + m + 1))
    for i in range(m):
        for j in range(n):
            T[i, j] = (A[i, j] - lo) / scale + 1.0
        T[i, n + i] = 1.0
        T[i, n + m] = 1.0
    for j in range(n):
        T[m, j] = -1.0
    basis = np.empty(m, dtype=np.int64)
    for i in range(m):
        basis[i] = n + i
    return T, basis


@njit(cache=True)
def _entering(T, priority, bland):
    """Column with negative reduced cost (priority columns first), or -1 at optimality."""
    m = T.shape[0] - 1
    cols = T.shape[1] - 1
    n = priority.shape[0]
    best = -1
    best_cost = -PIVOT_EPS
    for j in range(n):
        if priority[j] and T[m, j] < best_cost:
            best = j
            best_cost = T[m, j]
            if bland:
                return best
    if best >= 0:
        return best
    for j in range(cols):
        if T[m, j] < best_cost:
            best = j
            best_cost = T[m, j]
            if bland:
                return best
    return best


@njit(cache=True)
def _leaving(T, basis, e):
    """Ratio test; ties go to the smallest basic variable index (Bland)."""
    m = T.shape[0] - 1
    rhs = T.shape[1] - 1
    best_ratio = np.inf
    for i in range(m):
        if T[i, e] > PIVOT_EPS:
            best_ratio = min(best_ratio, T[i, rhs] / T[i, e])
    best = -1
    for i in range(m):
        if T[i, e] > PIVOT_EPS and T[i, rhs] / T[i, e] <= best_ratio + 1e-15:
            if best < 0 or basis[i] < basis[best]:
                best = i
    return best


@njit(cache=True)
def _pivot(T, r, e):
    rows, cols = T.shape
    inv = 1.0 / T[r, e]
    for j in range(cols):
        T[r, j] *= inv
    for i in range(rows):
        if i != r:
            f = T[i, e]
            if f != 0.0:
                for j in range(cols):
                    T[i, j] -= f * T[r, j]
            T[i, e] = 0.0


@njit(cache=True)
def _primal(T, basis, priority):
    """Primal simplex from a feasible tableau to optimality; returns the pivot count, negative
    if the pivot budget ran out."""
    m = T.shape[0] - 1
    cols = T.shape[1] - 1
    budget = _pivot_budget(m, cols - m)
    degenerate = 0
    pivots = 0
    while True:
        e = _entering(T, priority, degenerate > cols)
        if e < 0:
            return pivots
        r = _leaving(T, basis, e)
        if r < 0 or pivots >= budget:
            return -pivots - 1
        degenerate = degenerate + 1 if T[r, cols] <= PIVOT_EPS else 0
        _pivot(T, r, e)
        basis[r] = e
        pivots += 1


@njit(cache=True)
def _dual(T, basis):
    """Dual simplex from a dual feasible tableau (reduced costs >= 0) until the right-hand side
    is nonnegative: the most negative row leaves, the entering column keeps the reduced costs
    nonnegative. Returns the pivot count, negative if infeasible or out of budget."""
    m = T.shape[0] - 1
    cols = T.shape[1] - 1
    budget = _pivot_budget(m, cols - m)
    pivots = 0
    while True:
        r = -1
        worst = -PIVOT_EPS
        for i in range(m):
            if T[i, cols] < worst:
                r = i
                worst = T[i, cols]
        if r < 0:
            return pivots
        e = -1
        best_ratio = np.inf
        for j in range(cols):
            if T[r, j] < -PIVOT_EPS and T[m, j] / -T[r, j] < best_ratio:
                e = j
                best_ratio = T[m, j] / -T[r, j]
        if e < 0 or pivots >= budget:
            return -pivots - 1
        _pivot(T, r, e)
        basis[r] = e
        pivots += 1


@njit(cache=True)
def _strategies(T, basis, n, lo, scale):
    """``(x, y, value)`` read off an optimal tableau with ``n`` game columns."""
    m = T.shape[0] - 1
    x = np.empty(m)
    y = np.zeros(n)
    for i in range(m):
        x[i] = max(T[m, n + i], 0.0)
        if basis[i] < n:
            y[basis[i]] = max(T[i, n + m], 0.0)
    x /= x.sum()
    y /= y.sum()
    return x, y, (1.0 / T[m, n + m] - 1.0) * scale + lo


@njit(cache=True)
def simplex_game(A, priority):
    """Equilibrium ``(x, y, value, pivots)`` of the zero-sum game ``A`` (row maximizes).

    ``pivots`` is negative if the pivot budget ran out (never observed; a safeguard).
    """
    lo, scale = _scale(A)
    T, basis = _tableau(A, lo, scale)
    pivots = _primal(T, basis, priority)
    x, y, value = _strategies(T, basis, A.shape[1], lo, scale)
    return x, y, value, pivots


@njit(parallel=True, cache=True)
def simplex_batch(As, priority):
    """``simplex_game`` over a ``(B, m, n)`` stack; returns rows, cols, values, gaps, pivots."""
    B, m, n = As.shape
    rows = np.empty((B, m))
    cols = np.empty((B, n))
    values = np.empty(B)
    gaps = np.empty(B)
    pivots = np.empty(B, dtype=np.int64)
    for b in prange(B):
        x, y, v, p = simplex_game(As[b], priority[b])
        rows[b] = x
        cols[b] = y
        values[b] = v
        pivots[b] = p
        gaps[b] = duality_gap(As[b], x, y)
    return rows, cols, values, gaps, pivots


def simplex_game_reference(A: np.ndarray, priority: np.ndarray | None = None):
    """Plain-NumPy twin of ``simplex_game`` (same pivoting rules, vectorized pivots)."""
    A = np.asarray(A, dtype=np.float64)
    m, n = A.shape
    priority = np.zeros(n, dtype=bool) if priority is None else np.asarray(priority, dtype=bool)
    lo = A.min()
    scale = A.max() - lo if A.max() > lo else 1.0
    T = np.zeros((m + 1, n + m + 1))
    T[:m, :n] = (A - lo) / scale + 1.0
    T[:m, n : n + m] = np.eye(m)
    T[:m, -1] = 1.0
    T[m, :n] = -1.0
    basis = np.arange(n, n + m)
    degenerate = pivots = 0
    while pivots < _pivot_budget(m, n):
        costs = T[m, :-1]
        bland = degenerate > m + n
        candidates = np.flatnonzero(priority & (costs[:n] < -PIVOT_EPS))
        if candidates.size == 0:
            candidates = np.flatnonzero(costs < -PIVOT_EPS)
        if candidates.size == 0:
            break
        e = candidates[0] if bland else candidates[np.argmin(costs[candidates])]
        column = T[:m, e]
        eligible = np.flatnonzero(column > PIVOT_EPS)
        ratios = T[eligible, -1] / column[eligible]
        ties = eligible[ratios <= ratios.min() + 1e-15]
        r = ties[np.argmin(basis[ties])]
        degenerate = degenerate + 1 if T[r, -1] <= PIVOT_EPS else 0
        T[r] /= T[r, e]
        others = np.arange(m + 1) != r
        T[others] -= np.outer(T[others, e], T[r])
        T[others, e] = 0.0
        basis[r] = e
        pivots += 1
    x = np.clip(T[m, n : n + m], 0.0, None)
    y = np.zeros(n)
    in_basis = basis < n
    y[basis[in_basis]] = np.clip(T[:m, -1][in_basis], 0.0, None)
    value = (1.0 / T[m, -1] - 1.0) * scale + lo
    return x / x.sum(), y / y.sum(), value, pivots


class RestrictedGame:
    """The game ``A`` restricted to some rows and columns, re-solved warm as they grow.

    Its tableau keeps the affine map of the full ``A``, so growing it only appends: new rows
    enter with their slacks basic (the dual simplex restores feasibility of the rows they
    violate), then new columns enter nonbasic (the primal simplex prices them in), as in
    column-and-row generation for linear programs.
    """

    def __init__(self, A: np.ndarray, rows, cols) -> None:
        self.A = A
        self.lo, self.scale = _scale(A)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        sub = np.ascontiguousarray(A[np.ix_(self.rows, self.cols)])
        self.T, self.basis = _tableau(sub, self.lo, self.scale)
        self.pivots = _primal(self.T, self.basis, np.zeros(self.cols.size, dtype=np.bool_))

    def _payoffs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The mapped payoffs ``M`` of ``A[rows][:, cols]``."""
        return (self.A[np.ix_(rows, cols)] - self.lo) / self.scale + 1.0

    def solution(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(x, y, value)`` on the current rows and columns (in their order of addition)."""
        return _strategies(self.T, self.basis, self.cols.size, self.lo, self.scale)

    def add(self, rows, cols) -> None:
        """Append ``rows`` then ``cols`` and re-optimize; ``pivots`` accumulates the work."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        if rows.size:
            self._add_rows(rows)
            self.pivots += abs(_dual(self.T, self.basis))
        if cols.size:
            self._add_cols(cols)
            self.pivots += abs(_primal(self.T, self.basis, np.zeros(self.cols.size, np.bool_)))

    def _add_rows(self, new: np.ndarray) -> None:
        m, n, p = self.rows.size, self.cols.size, new.size
        T = np.zeros((m + p + 1, n + m + p + 1))
        T[:m, : n + m] = self.T[:m, :-1]
        T[:m, -1] = self.T[:m, -1]
        T[-1, : n + m] = self.T[m, :-1]
        T[-1, -1] = self.T[m, -1]
        raw = np.zeros((p, n + m + p + 1))
        raw[:, :n] = self._payoffs(new, self.cols)
        raw[:, n + m :] = np.hstack([np.eye(p), np.ones((p, 1))])
        T[m : m + p] = raw - raw[:, self.basis] @ T[:m]  # eliminate the basic columns
        self.T, self.rows = T, np.r_[self.rows, new]
        self.basis = np.r_[self.basis, n + m + np.arange(p)]

    def _add_cols(self, new: np.ndarray) -> None:
        m, n, q = self.rows.size, self.cols.size, new.size
        block = self._payoffs(self.rows, new)
        T = np.empty((m + 1, n + q + m + 1))
        T[:, :n] = self.T[:, :n]
        T[:m, n : n + q] = self.T[:m, n : n + m] @ block  # B^-1 a: the slack block is B^-1
        T[m, n : n + q] = self.T[m, n : n + m] @ block - 1.0  # duals u: reduced cost u a - 1
        T[:, n + q :] = self.T[:, n:]
        self.T, self.cols = T, np.r_[self.cols, new]
        self.basis = np.where(self.basis >= n, self.basis + q, self.basis)
