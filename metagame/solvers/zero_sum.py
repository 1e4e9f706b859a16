"""Nash equilibria of two-player zero-sum matrix games, each with a certificate.

The row player maximizes ``x^T A y`` and the column player minimizes it. Every answer is an
``Equilibrium`` whose ``gap`` is the NashConv ``max(A y) - min(x^T A)`` recomputed from the
returned strategies, independently of the method that produced them.

Methods:

- ``"simplex"``: exact dense tableau simplex in Numba (``_simplex``), for small games;
- ``"highs"``: the same linear program through scipy's HiGHS (Huangfu and Hall 2018), its
  interior point method beyond the simplex's size range;
- ``"prm+"``: predictive regret matching+ with alternating updates (Farina, Kroer and Sandholm
  2021, "Faster game solving via predictive Blackwell approachability"), for large dense games;
- ``"double_oracle"``: double oracle (McMahan, Gordon and Blum 2003), for games whose
  equilibrium has a small support;
- ``"prm+/double_oracle"``: PRM+ to a coarse gap, then double oracle started from the rows and
  columns PRM+ plays (or nearly best responses), for large dense games at high precision: PRM+
  finds the support cheaply, warm-started simplex pivots make the answer exact;
- ``"auto"``: picks one from size and structure; ``Equilibrium.method`` says which.

``solve_zero_sum_batch`` solves a stack of small games, on threads when the stack is large.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog

from metagame._arrays import as_matrix, as_stack, as_strategy, check_tolerance
from metagame.solvers._double_oracle import double_oracle
from metagame.solvers._linalg import (
    PARALLEL_MIN_ENTRIES,
    certificate,
    is_skew_symmetric,
    mat_vec,
    nash_gap,
    vec_mat,
)
from metagame.solvers._rm import PRMState
from metagame.solvers._simplex import simplex_batch, simplex_game
from metagame.solvers._threads import choice

HYBRID = "prm+/double_oracle"
METHODS = ("auto", "simplex", "highs", "prm+", "double_oracle", HYBRID)
SMALL_GAME = 400 * 400  # entries up to which "auto" solves exactly by simplex
SMALL_SUPPORT = 0.1  # "auto" keeps double oracle while supports stay below this fraction
MAX_ORACLE_SUPPORT = 256  # ... and below this size (the restricted games are solved densely)
HIGH_PRECISION = 1e-5  # tol / payoff range below which "auto" finishes PRM+ exactly ...
HYBRID_ENTRIES = 2000 * 2000  # ... for games up to this many entries
HANDOFF_GAP = 1e-4  # PRM+ hands over to double oracle at this gap / payoff range ...
HANDOFF_MARGIN = 2.0  # ... with the strategies within this many gaps of the value


@dataclass(frozen=True)
class Equilibrium:
    """A pair of mixed strategies with its value and NashConv certificate.

    ``row`` and ``col`` are probability vectors, ``value`` is ``row^T A col``, ``gap`` is
    ``max(A col) - min(row^T A)`` (zero exactly at an equilibrium), ``iterations`` counts the
    method's steps (pivots, iterations or oracle rounds), ``method`` names the method used and
    ``seconds`` is its wall time.
    """

    row: np.ndarray
    col: np.ndarray
    value: float
    gap: float
    iterations: int
    method: str
    seconds: float


def _highs(A: np.ndarray, time_limit: float | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Row player's LP ``max v s.t. A^T x >= v 1, 1^T x = 1, x >= 0``; its duals give ``y``."""
    m, n = A.shape
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A.T, np.ones((n, 1))])
    A_eq = np.ones((1, m + 1))
    A_eq[0, -1] = 0.0
    bounds = [(0.0, None)] * m + [(None, None)]
    options = {} if time_limit is None else {"time_limit": float(time_limit)}
    res = linprog(
        c,
        A_ub=A_ub,
        b_ub=np.zeros(n),
        A_eq=A_eq,
        b_eq=[1.0],
        bounds=bounds,
        method="highs" if A.size <= SMALL_GAME else "highs-ipm",  # IPM wins on large dense LPs
        options=options,
    )
    if res.x is None or res.status != 0:
        raise RuntimeError(f"HiGHS found no solution: {res.message}")
    x = np.clip(res.x[:m], 0.0, None)
    y = np.clip(-res.ineqlin.marginals, 0.0, None)
    return x / x.sum(), y / y.sum(), int(res.nit)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    return method


def _warm_pair(warm_start: Any, m: int, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A previous ``(row, col)`` pair (or Equilibrium), checked against the game's shape."""
    if warm_start is None:
        return None
    if isinstance(warm_start, Equilibrium):
        warm_start = (warm_start.row, warm_start.col)
    x = as_strategy(warm_start[0], m, "warm_start row strategy")
    y = as_strategy(warm_start[1], n, "warm_start column strategy")
    return x, y


def _prm_state(warm, m: int, n: int, symmetric: bool) -> PRMState:
    """PRM+ from the warm start's strategies, or from uniform ones."""
    return PRMState(
        np.full(m, 1.0 / m) if warm is None else warm[0].copy(),
        np.full(n, 1.0 / n) if warm is None else warm[1].copy(),
        symmetric,
    )


def _prm(state: PRMState, A: np.ndarray, tol: float, max_iter: int | None, deadline: float):
    """Run PRM+ in chunks of about 2e7 multiply-adds until ``tol``, ``max_iter`` or deadline
    (5e6 on a large game). A chunk runs in one serial Numba call while one thread measured
    faster for products of ``A``'s size; otherwise (or when a probe is due) its products go
    through ``_threads.share`` one by one (``_threads`` says how the count is chosen)."""
    pick = choice("product", A.size) if A.size >= PARALLEL_MIN_ENTRIES else None
    chunk = max(1, int((2e7 if pick is None else 5e6) // A.size))
    products = 1 if state.symmetric else 2
    while state.gap > tol and time.perf_counter() < deadline:
        iters = chunk if max_iter is None else min(chunk, max_iter - state.t)
        if iters <= 0:
            break
        serial = pick is None or pick.serial(products * iters)
        state.run(A, iters, tol, 1 if serial else None)
    return (*state.average(), state.t)


def _support(v: np.ndarray) -> list[int]:
    return np.flatnonzero(v > 0).tolist()


def _prm_double_oracle(A, tol, max_iter, deadline, warm, symmetric):
    """PRM+ to a coarse gap, then double oracle from the rows and columns that PRM+ plays now
    or that are within ``HANDOFF_MARGIN`` gaps of the averages' value: an exact finish."""
    m, n = A.shape
    state = _prm_state(warm, m, n, symmetric)
    coarse = max(tol, HANDOFF_GAP * (A.max() - A.min()))
    xbar, ybar, _ = _prm(state, A, coarse, max_iter, deadline)
    Ay, xA = np.empty(m), np.empty(n)
    mat_vec(A, ybar, Ay)
    vec_mat(xbar, A, xA)
    value, margin = xbar @ Ay, HANDOFF_MARGIN * max(state.gap, tol)
    rows = np.flatnonzero((state.x > 0) | (Ay >= value - margin)).tolist()
    cols = rows if symmetric else np.flatnonzero((state.y > 0) | (xA <= value + margin)).tolist()
    x, y, _, rounds, _ = double_oracle(A, tol, rows, cols, symmetric, None, deadline)
    return x, y, state.t + rounds


def _auto(A, tol, max_iter, deadline, warm, symmetric):
    """Simplex when small; else double oracle while the support stays small; else PRM+ with an
    exact double-oracle finish for high precision on moderate sizes, plain PRM+ otherwise."""
    m, n = A.shape
    if A.size <= SMALL_GAME:
        priority = np.zeros(n, dtype=np.bool_) if warm is None else warm[1] > 0
        x, y, _, pivots = simplex_game(A, priority)
        if pivots >= 0:
            return x, y, pivots, "simplex"
        return (*_highs(A, None), "highs")  # pivot budget exhausted: never seen, but be exact
    rows, cols = ([0], [0]) if warm is None else (_support(warm[0]), _support(warm[1]))
    cap = min(max(64, int(SMALL_SUPPORT * min(m, n))), MAX_ORACLE_SUPPORT)
    x, y, _, rounds, complete = double_oracle(
        A, tol, rows, cols, symmetric, max_iter, deadline, max_support=cap
    )
    if complete:
        return x, y, rounds, "double_oracle"
    if tol < HIGH_PRECISION * (A.max() - A.min()) and A.size <= HYBRID_ENTRIES:
        return (*_prm_double_oracle(A, tol, max_iter, deadline, warm, symmetric), HYBRID)
    return (*_prm(_prm_state(warm, m, n, symmetric), A, tol, max_iter, deadline), "prm+")


def solve_zero_sum(
    A: Any,
    tol: float = 1e-6,
    method: str = "auto",
    max_iter: int | None = None,
    time_limit: float | None = None,
    warm_start: Equilibrium | tuple[Any, Any] | None = None,
) -> Equilibrium:
    """Nash equilibrium of the zero-sum game ``A`` (row maximizes) with ``gap <= tol``.

    ``warm_start`` is a previous ``Equilibrium`` or ``(row, col)`` pair of a similar game (PRM+
    starts from it, double oracle from its supports, simplex pivots its columns in first).
    Iterative methods stop at ``max_iter`` iterations or ``time_limit`` seconds if given, and the
    returned ``gap`` then says how far they got. A skew-symmetric ``A`` (symmetric game) is
    detected and solved with one product per iteration.
    """
    A = as_matrix(A)
    tol = check_tolerance(tol)
    _check_method(method)
    if max_iter is not None and not (isinstance(max_iter, int) and max_iter > 0):
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be positive, got {time_limit!r}")
    m, n = A.shape
    warm = _warm_pair(warm_start, m, n)
    start = time.perf_counter()
    deadline = np.inf if time_limit is None else start + time_limit
    symmetric = is_skew_symmetric(A)
    if method == "auto":
        x, y, iterations, method = _auto(A, tol, max_iter, deadline, warm, symmetric)
    elif method == "simplex":
        priority = np.zeros(n, dtype=np.bool_) if warm is None else warm[1] > 0
        x, y, _, iterations = simplex_game(A, priority)
        iterations = abs(iterations)
    elif method == "highs":
        x, y, iterations = _highs(A, time_limit)
    elif method == "prm+":
        x, y, iterations = _prm(_prm_state(warm, m, n, symmetric), A, tol, max_iter, deadline)
    elif method == HYBRID:
        x, y, iterations = _prm_double_oracle(A, tol, max_iter, deadline, warm, symmetric)
    else:
        rows, cols = ([0], [0]) if warm is None else (_support(warm[0]), _support(warm[1]))
        x, y, _, iterations, _ = double_oracle(A, tol, rows, cols, symmetric, max_iter, deadline)
    value, gap = certificate(A, x, y)
    return Equilibrium(
        row=x,
        col=y,
        value=value,
        gap=gap,
        iterations=int(iterations),
        method=method,
        seconds=time.perf_counter() - start,
    )


def solve_zero_sum_batch(
    As: Any, tol: float = 1e-8, warm_start: tuple[Any, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Solve a ``(B, m, n)`` stack of small zero-sum games exactly (on threads when large).

    Returns ``(rows (B, m), cols (B, n), values (B,), gaps (B,))``; ``gaps`` are the NashConv
    certificates (round-off level for this exact method; ``tol`` is checked against them).
    ``warm_start`` is a previous ``(rows, cols)`` pair of the same shapes: the pivoting tries
    the previous column supports first (as in Shapley iteration over a Markov game).
    """
    As = as_stack(As)
    tol = check_tolerance(tol)
    B, m, n = As.shape
    if warm_start is None:
        priority = np.zeros((B, n), dtype=np.bool_)
    else:
        cols = np.asarray(warm_start[1], dtype=np.float64)
        if cols.shape != (B, n):
            raise ValueError(f"warm_start cols must have shape ({B}, {n}), got {cols.shape}")
        priority = cols > 0
    rows, cols, values, gaps, pivots = simplex_batch(np.ascontiguousarray(As), priority, None)
    bad = np.flatnonzero((pivots < 0) | (gaps > max(tol, 1e-9 * (1.0 + np.abs(As).max()))))
    for b in bad:  # numerically hard games: fall back to HiGHS one by one
        x, y, _ = _highs(As[b], None)
        rows[b], cols[b], values[b], gaps[b] = x, y, x @ As[b] @ y, nash_gap(As[b], x, y)
    return rows, cols, values, gaps
