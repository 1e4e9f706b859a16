"""Exact solution of small zero-sum matrix games by the dense tableau simplex method.

The game ``A`` (row player maximizes ``x^T A y``) is first mapped affinely onto ``M`` with entries
in ``[1, 2]``, so its value is positive. Von Neumann's linear program for the column player,

    maximize 1^T w  subject to  M w <= 1,  w >= 0,

has the slack basis as a feasible start. At the optimum ``y = w / 1^T w``, the reduced costs of
the slack columns are the dual solution ``u`` with ``x = u / 1^T u``, and the value of ``M`` is
``1 / 1^T w`` (Dantzig 1951, "A proof of the equivalence of the programming problem and the game
problem"). One tableau therefore yields both players' strategies. The tableau is kept condensed
(Tucker's form: nonbasic columns only, the basic ones being unit vectors), which does the full
tableau's arithmetic at about half the cost per pivot.

Pivoting follows Dantzig's most-negative reduced cost rule and switches to Bland's rule (1977)
after a run of degenerate pivots, which rules out cycling. A ``priority`` mask (a warm start:
the previous column support) is tried first when choosing the entering column.

``simplex_game`` is the Numba kernel, ``simplex_batch`` runs it over a stack of games on
threads, and ``simplex_game_reference`` is the plain-NumPy twin (full tableau, same pivots) the
tests compare against. ``RestrictedGame`` re-solves a growing restricted game warm for double
oracle.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.solvers._linalg import PARALLEL_MIN_ENTRIES, duality_gap
from metagame.solvers._threads import share

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
    """Condensed tableau ``D`` (rows: basic variables, columns: nonbasic ones, then the
    right-hand side; last row: reduced costs) at the slack basis, with the variables' labels
    (``j < n``: the game's column ``j``; ``n + i``: the slack of row ``i``)."""
    m, n = A.shape
    D = np.empty((m + 1, n + 1))
    for i in range(m):
        for j in range(n):
            D[i, j] = (A[i, j] - lo) / scale + 1.0
        D[i, n] = 1.0
    D[m, :n] = -1.0
    D[m, n] = 0.0
    basic = np.arange(n, n + m)
    nonbasic = np.arange(n)
    return D, basic, nonbasic


@njit(cache=True)
def _entering(D, nonbasic, priority, bland):
    """Nonbasic position with negative reduced cost (priority columns first; ties and Bland's
    rule by smallest label), or -1 at optimality."""
    m = D.shape[0] - 1
    k = D.shape[1] - 1
    n = priority.shape[0]
    for pass_ in range(2):
        best = -1
        best_cost = -PIVOT_EPS
        for c in range(k):
            label = nonbasic[c]
            if pass_ == 0 and not (label < n and priority[label]):
                continue
            cost = D[m, c]
            if bland:
                if cost < -PIVOT_EPS and (best < 0 or label < nonbasic[best]):
                    best = c
            elif cost < best_cost or (cost == best_cost and best >= 0 and label < nonbasic[best]):
                best = c
                best_cost = cost
        if best >= 0:
            return best
    return -1


@njit(cache=True)
def _leaving(D, basic, e):
    """Ratio test; ties go to the smallest basic label (Bland)."""
    m = D.shape[0] - 1
    rhs = D.shape[1] - 1
    best_ratio = np.inf
    for i in range(m):
        if D[i, e] > PIVOT_EPS:
            best_ratio = min(best_ratio, D[i, rhs] / D[i, e])
    best = -1
    for i in range(m):
        if D[i, e] > PIVOT_EPS and D[i, rhs] / D[i, e] <= best_ratio + 1e-15:
            if best < 0 or basic[i] < basic[best]:
                best = i
    return best


@njit(cache=True)
def _pivot(D, basic, nonbasic, r, e):
    """Exchange basic ``r`` and nonbasic ``e`` (Tucker's pivot: the full tableau's Gauss-Jordan
    step without its unit columns, so the same numbers at half the work)."""
    rows, cols = D.shape
    inv = 1.0 / D[r, e]
    for j in range(cols):
        D[r, j] *= inv
    D[r, e] = inv
    for i in range(rows):
        if i != r:
            f = D[i, e]
            if f != 0.0:
                for j in range(cols):
                    D[i, j] -= f * D[r, j]
                D[i, e] = -f * inv
    basic[r], nonbasic[e] = nonbasic[e], basic[r]


@njit(cache=True)
def _primal(D, basic, nonbasic, priority):
    """Primal simplex from a feasible tableau to optimality; returns the pivot count, negative
    if the pivot budget ran out."""
    m = D.shape[0] - 1
    rhs = D.shape[1] - 1
    budget = _pivot_budget(m, rhs)
    degenerate = 0
    pivots = 0
    while True:
        e = _entering(D, nonbasic, priority, degenerate > m + rhs)
        if e < 0:
            return pivots
        r = _leaving(D, basic, e)
        if r < 0 or pivots >= budget:
            return -pivots - 1
        degenerate = degenerate + 1 if D[r, rhs] <= PIVOT_EPS else 0
        _pivot(D, basic, nonbasic, r, e)
        pivots += 1


@njit(cache=True)
def _dual(D, basic, nonbasic):
    """Dual simplex from a dual feasible tableau (reduced costs >= 0) until the right-hand side
    is nonnegative: the most negative row leaves, the entering column keeps the reduced costs
    nonnegative. Returns the pivot count, negative if infeasible or out of budget."""
    m = D.shape[0] - 1
    rhs = D.shape[1] - 1
    budget = _pivot_budget(m, rhs)
    pivots = 0
    while True:
        r = -1
        worst = -PIVOT_EPS
        for i in range(m):
            if D[i, rhs] < worst:
                r = i
                worst = D[i, rhs]
        if r < 0:
            return pivots
        e = -1
        best_ratio = np.inf
        for c in range(rhs):
            if D[r, c] < -PIVOT_EPS and D[m, c] / -D[r, c] < best_ratio:
                e = c
                best_ratio = D[m, c] / -D[r, c]
        if e < 0 or pivots >= budget:
            return -pivots - 1
        _pivot(D, basic, nonbasic, r, e)
        pivots += 1


@njit(cache=True)
def _strategies(D, basic, nonbasic, lo, scale):
    """``(x, y, value)`` read off an optimal tableau: ``y`` from the basic game columns, ``x``
    from the reduced costs of the nonbasic slacks (the duals)."""
    m = D.shape[0] - 1
    n = D.shape[1] - 1
    x = np.zeros(m)
    y = np.zeros(n)
    for c in range(n):
        if nonbasic[c] >= n:
            x[nonbasic[c] - n] = max(D[m, c], 0.0)
    for i in range(m):
        if basic[i] < n:
            y[basic[i]] = max(D[i, n], 0.0)
    x /= x.sum()
    y /= y.sum()
    return x, y, (1.0 / D[m, n] - 1.0) * scale + lo


@njit(cache=True)
def simplex_game(A, priority):
    """Equilibrium ``(x, y, value, pivots)`` of the zero-sum game ``A`` (row maximizes).

    ``pivots`` is negative if the pivot budget ran out (never observed; a safeguard).
    """
    lo, scale = _scale(A)
    D, basic, nonbasic = _tableau(A, lo, scale)
    pivots = _primal(D, basic, nonbasic, priority)
    x, y, value = _strategies(D, basic, nonbasic, lo, scale)
    return x, y, value, pivots


@njit(cache=True, nogil=True)
def _simplex_range(As, priority, rows, cols, values, gaps, pivots, lo, hi):
    """``simplex_game`` on games ``lo <= b < hi`` of a stack, with each one's NashConv."""
    for b in range(lo, hi):
        x, y, v, p = simplex_game(As[b], priority[b])
        rows[b] = x
        cols[b] = y
        values[b] = v
        pivots[b] = p
        gaps[b] = duality_gap(As[b], x, y)


# A large batch is cut into this many ranges of games, whatever the threads: small enough that
# a thread sharing its core with another process holds up the end of a call by little.
RANGES = 64


def simplex_batch(As: np.ndarray, priority: np.ndarray, threads: int | None = 1):
    """``simplex_game`` over a ``(B, m, n)`` stack; returns rows, cols, values, gaps, pivots.

    On one thread the stack is solved in one call; otherwise it is cut into ``RANGES`` ranges of
    games that ``threads`` threads take one at a time (if None: one thread below
    ``PARALLEL_MIN_ENTRIES`` entries, else one or all as measured faster, ``_threads.share``).
    The answers do not depend on the threads.
    """
    B, m, n = As.shape
    if threads is None and As.size < PARALLEL_MIN_ENTRIES:
        threads = 1
    rows, cols = np.empty((B, m)), np.empty((B, n))
    values, gaps, pivots = np.empty(B), np.empty(B), np.empty(B, dtype=np.int64)
    out = (rows, cols, values, gaps, pivots)
    bounds = np.linspace(0, B, min(B, RANGES) + 1).astype(np.int64)
    share(
        lambda k: _simplex_range(As, priority, *out, bounds[k], bounds[k + 1]),
        bounds.size - 1,
        lambda: _simplex_range(As, priority, *out, 0, B),
        threads,
        "batch",
        As.size,
    )
    return out


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
        self.D, self.basic, self.nonbasic = _tableau(sub, self.lo, self.scale)
        self.pivots = abs(_primal(self.D, self.basic, self.nonbasic, self._no_priority()))

    def _no_priority(self) -> np.ndarray:
        return np.zeros(self.cols.size, dtype=np.bool_)

    def _payoffs(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """The mapped payoffs ``M`` of ``A[rows][:, cols]``."""
        return (self.A[np.ix_(rows, cols)] - self.lo) / self.scale + 1.0

    def solution(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(x, y, value)`` on the current rows and columns (in their order of addition)."""
        return _strategies(self.D, self.basic, self.nonbasic, self.lo, self.scale)

    def add(self, rows, cols) -> None:
        """Append ``rows`` then ``cols`` and re-optimize; ``pivots`` accumulates the work."""
        rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
        if rows.size:
            self._add_rows(rows)
            self.pivots += abs(_dual(self.D, self.basic, self.nonbasic))
        if cols.size:
            self._add_cols(cols)
            self.pivots += abs(_primal(self.D, self.basic, self.nonbasic, self._no_priority()))

    def _add_rows(self, new: np.ndarray) -> None:
        """New constraints ``M_new w + s = 1`` with the basic game columns substituted out."""
        m, n = self.rows.size, self.cols.size
        raw = self._payoffs(new, self.cols)
        K = np.where(self.basic < n, raw[:, np.minimum(self.basic, n - 1)], 0.0)
        rows = np.hstack(
            [
                np.where(self.nonbasic < n, raw[:, np.minimum(self.nonbasic, n - 1)], 0.0),
                np.ones((new.size, 1)),
            ]
        )
        rows -= np.einsum("pi,ic->pc", K, self.D[:m])  # not BLAS: no thread pool
        self.D = np.vstack([self.D[:m], rows, self.D[m:]])
        self.basic = np.r_[self.basic, n + m + np.arange(new.size)]
        self.rows = np.r_[self.rows, new]

    def _add_cols(self, new: np.ndarray) -> None:
        """New nonbasic game columns ``B^-1 a`` with reduced costs ``u a - 1``, from the slack
        columns of the tableau (``B^-1`` and the duals ``u``; unit columns where basic)."""
        m, n = self.rows.size, self.cols.size
        a = self._payoffs(self.rows, new)
        slacks = np.flatnonzero(self.nonbasic >= n)
        block = np.einsum("ic,cq->iq", self.D[:, slacks], a[self.nonbasic[slacks] - n])
        block[m] -= 1.0
        basic_slacks = np.flatnonzero(self.basic >= n)
        block[basic_slacks] += a[self.basic[basic_slacks] - n]
        q = new.size
        self.D = np.hstack([self.D[:, :n], block, self.D[:, n:]])
        self.basic = np.where(self.basic >= n, self.basic + q, self.basic)
        self.nonbasic = np.r_[
            np.where(self.nonbasic >= n, self.nonbasic + q, self.nonbasic), n + np.arange(q)
        ]
        self.cols = np.r_[self.cols, new]
