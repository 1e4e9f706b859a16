"""Nash equilibria of general-sum two-player (bimatrix) games.

The row player has payoff matrix A (m x n), the column player B (m x n). Two methods:

* **Lemke-Howson** (Lemke & Howson 1964, "Equilibrium points of bimatrix games") follows the
  path of almost-complementary vertices of the best-response polytopes
  P = {x >= 0 : B^T x <= 1} and Q = {y >= 0 : A y <= 1} (payoffs shifted to be positive) from the
  artificial equilibrium (0, 0), starting by dropping one label: labels 0..m-1 are the row
  player's pure strategies, m..m+n-1 the column player's (nashpy's numbering). The minimum-ratio
  test breaks ties lexicographically, which is the symbolic perturbation of the right-hand side
  by (eps, eps^2, ...) (von Stengel 2007, "Equilibrium computation for two-player games in
  strategic and extensive form", Algorithmic Game Theory ch. 3): the path is then unique and
  finite for *every* game, degenerate ones included, and ends in an equilibrium. The pivoting
  loop is a Numba kernel (:func:`lemke_howson_path`); its pure-Python original
  (``lemke_howson_path.py_func``) is the reference the tests compare against.
* **Support enumeration** (Dickhaut & Kaplan 1991; von Stengel 2007 sec. 3.3) solves the
  indifference equations of every pair of supports of equal size and keeps the solutions that
  are probability vectors with exactly that support and whose supports are best responses. In a
  nondegenerate game every equilibrium has equal-size supports, so this returns all of them.
  Degenerate games can have equilibria with unequal supports or continua of equilibria; those
  are not listed (each returned profile is still a verified equilibrium). The hot loop is a
  batched LAPACK solve of many small square systems per support size, which NumPy already runs
  at compiled speed, so there is no Numba kernel. The number of support pairs is
  C(m + n, m) - 1; games beyond ``max_support_pairs`` are refused.

Every equilibrium carries its NashConv (sum of both players' best-deviation gains), recomputed
from the returned strategies by :func:`metagame.solvers.normal_form.nash_conv`.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numba import njit

from metagame._arrays import as_matrix
from metagame.solvers.normal_form import profile_gains

_ZERO = 1e-9  # pivot / positivity threshold on payoffs rescaled to [1, 2]


@dataclass(frozen=True)
class BimatrixEquilibrium:
    """One equilibrium (row, col) with the players' values and its NashConv certificate."""

    row: np.ndarray
    col: np.ndarray
    row_value: float
    col_value: float
    nash_conv: float


@dataclass(frozen=True)
class BimatrixSolution:
    """The equilibria a method found: ``row`` and ``col`` are those of the first one,
    ``nash_conv`` is the largest (worst) certificate over all of them."""

    equilibria: tuple[BimatrixEquilibrium, ...]
    method: str
    seconds: float

    @property
    def row(self) -> np.ndarray:
        return self.equilibria[0].row

    @property
    def col(self) -> np.ndarray:
        return self.equilibria[0].col

    @property
    def nash_conv(self) -> float:
        return max(eq.nash_conv for eq in self.equilibria)


def solve_bimatrix(
    A,
    B,
    method: Literal["lemke_howson", "support_enumeration"] = "lemke_howson",
    *,
    initial_dropped_label: int | Literal["all"] = 0,
    tol: float = 1e-9,
    max_pivots: int = 100_000,
    max_support_pairs: int = 2_000_000,
) -> BimatrixSolution:
    """Nash equilibria of the bimatrix game (A, B).

    ``method="lemke_howson"`` returns the equilibrium at the end of the path that starts by
    dropping ``initial_dropped_label`` (0..m+n-1), or with ``"all"`` the distinct equilibria
    reached from every label. ``method="support_enumeration"`` returns all equilibria of a
    nondegenerate game (see the module docstring for degenerate ones); ``tol`` is its
    positivity / best-response tolerance on payoffs rescaled to [1, 2].
    """
    A = as_matrix(A, "A")
    B = as_matrix(B, "B")
    if A.shape != B.shape:
        raise ValueError(f"A and B must have the same shape, got {A.shape} and {B.shape}")
    m, n = A.shape
    start = time.perf_counter()
    if method == "lemke_howson":
        if initial_dropped_label == "all":
            labels = range(m + n)
        elif isinstance(initial_dropped_label, int | np.integer) and (
            0 <= initial_dropped_label < m + n
        ):
            labels = [int(initial_dropped_label)]
        else:
            raise ValueError(
                f"initial_dropped_label must be an int in [0, {m + n}) or 'all', "
                f"got {initial_dropped_label!r}"
            )
        if not (isinstance(max_pivots, int) and max_pivots > 0):
            raise ValueError(f"max_pivots must be a positive int, got {max_pivots!r}")
        Ap, Bp = _positive(A), _positive(B)
        profiles = []
        for label in labels:
            x, y, pivots = lemke_howson_path(Ap, Bp, label, max_pivots)
            if pivots < 0:
                raise RuntimeError(
                    f"Lemke-Howson from label {label} did not end within {max_pivots} pivots"
                )
            profiles.append((x, y))
    elif method == "support_enumeration":
        if not (isinstance(tol, int | float) and 0 < tol < 1):
            raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
        pairs = math.comb(m + n, m) - 1
        if pairs > max_support_pairs:
            raise ValueError(
                f"support enumeration of a {m}x{n} game visits {pairs} support pairs "
                f"(> max_support_pairs={max_support_pairs}); use method='lemke_howson'"
            )
        profiles = support_enumeration(_positive(A), _positive(B), tol)
    else:
        raise ValueError(f"method must be 'lemke_howson' or 'support_enumeration', got {method!r}")
    equilibria = _certify(A, B, profiles)
    return BimatrixSolution(equilibria, method, time.perf_counter() - start)


def _positive(M: np.ndarray) -> np.ndarray:
    """M rescaled affinely to [1, 2] (a constant game to all ones): same equilibria."""
    lo, hi = M.min(), M.max()
    return np.ones_like(M) if hi == lo else 1.0 + (M - lo) / (hi - lo)


def _certify(A, B, profiles) -> tuple[BimatrixEquilibrium, ...]:
    """Distinct profiles, each with its values and NashConv computed from the original game."""
    tensor = np.stack([A, B])
    out: list[BimatrixEquilibrium] = []
    for x, y in profiles:
        if any(np.allclose(x, e.row, atol=1e-9) and np.allclose(y, e.col, atol=1e-9) for e in out):
            continue
        gains = profile_gains(tensor, [x, y])
        out.append(
            BimatrixEquilibrium(x, y, float(x @ A @ y), float(x @ B @ y), float(gains.sum()))
        )
    return tuple(out)


# --------------------------------------------------------------------------- Lemke-Howson


@njit(cache=True)
def _lex_smaller(T, r, s, col, first_slack, n_slack):
    """Is row r's ratio vector (rhs, slack columns) / T[., col] lexicographically below row s's?"""
    rhs = T.shape[1] - 1
    a = T[r, rhs] / T[r, col]
    b = T[s, rhs] / T[s, col]
    if abs(a - b) > _ZERO * max(1.0, abs(a), abs(b)):
        return a < b
    for k in range(first_slack, first_slack + n_slack):
        a = T[r, k] / T[r, col]
        b = T[s, k] / T[s, col]
        if abs(a - b) > _ZERO * max(1.0, abs(a), abs(b)):
            return a < b
    return False


@njit(cache=True)
def _pivot(T, basis, entering, first_slack, n_slack):
    """Enter ``entering`` into the basis of tableau T; return the label that leaves (-1: none)."""
    best = -1
    for r in range(T.shape[0]):
        if T[r, entering] > _ZERO and (
            best < 0 or _lex_smaller(T, r, best, entering, first_slack, n_slack)
        ):
            best = r
    if best < 0:
        return -1
    T[best, :] /= T[best, entering]
    for r in range(T.shape[0]):
        factor = T[r, entering]
        if r != best and factor != 0.0:
            T[r, :] -= factor * T[best, :]
    leaving = basis[best]
    basis[best] = entering
    return leaving


@njit(cache=True)
def lemke_howson_path(A, B, label, max_pivots):
    """Follow the Lemke-Howson path from dropping ``label``; A, B must be positive.

    Tableau columns are indexed by label. Q's tableau [I_m | A | 1] holds r = 1 - A y (labels
    0..m-1) and y (labels m..m+n-1); P's tableau [B^T | I_n | 1] holds x (labels 0..m-1) and
    s = 1 - B^T x (labels m..m+n-1). Returns (x, y, pivots), x and y normalised to mixed
    strategies; pivots = -1 when ``max_pivots`` ran out.
    """
    m, n = A.shape
    tq = np.zeros((m, m + n + 1))
    tp = np.zeros((n, m + n + 1))
    for i in range(m):
        tq[i, i] = 1.0
        tq[i, m : m + n] = A[i]
        tq[i, -1] = 1.0
    for j in range(n):
        tp[j, :m] = B[:, j]
        tp[j, m + j] = 1.0
        tp[j, -1] = 1.0
    basis_q = np.arange(m)
    basis_p = np.arange(m, m + n)
    entering = label
    in_p = label < m  # x_label is nonbasic in P, y_label nonbasic in Q
    pivots = 0
    while True:
        if in_p:
            leaving = _pivot(tp, basis_p, entering, m, n)
        else:
            leaving = _pivot(tq, basis_q, entering, 0, m)
        pivots += 1
        if leaving == label or leaving < 0 or pivots >= max_pivots:
            break
        entering = leaving
        in_p = not in_p
    if leaving != label:
        pivots = -1
    x = np.zeros(m)
    y = np.zeros(n)
    for r in range(n):
        if basis_p[r] < m:
            x[basis_p[r]] = tp[r, -1]
    for r in range(m):
        if basis_q[r] >= m:
            y[basis_q[r] - m] = tq[r, -1]
    return x / x.sum(), y / y.sum(), pivots


# ---------------------------------------------------------------------- support enumeration


def support_enumeration(A: np.ndarray, B: np.ndarray, tol: float) -> list:
    """All equilibria with equal-size supports of the positive game (A, B), by support size."""
    m, n = A.shape
    found = []
    for k in range(1, min(m, n) + 1):
        rows = np.array(list(itertools.combinations(range(m), k)))
        cols = np.array(list(itertools.combinations(range(n), k)))
        chunk = max(1, 4_000_000 // ((k + 1) ** 2 * len(cols)))  # <= ~32 MB per batch
        for lo in range(0, len(rows), chunk):
            found += _supports_of_size(A, B, rows[lo : lo + chunk], cols, tol)
    return found


def _supports_of_size(A, B, rows, cols, tol) -> list:
    """Equilibria whose supports are one of ``rows`` (R, k) crossed with one of ``cols`` (C, k)."""
    I = np.repeat(rows, len(cols), axis=0)  # (R*C, k) pairs of supports
    J = np.tile(cols, (len(rows), 1))
    y, v = _indifferent(A[I[:, :, None], J[:, None, :]])  # column mix making rows in I indifferent
    x, u = _indifferent(np.swapaxes(B[I[:, :, None], J[:, None, :]], 1, 2))
    ok = (y > tol).all(axis=1) & (x > tol).all(axis=1)
    found = []
    for p in np.flatnonzero(ok):
        xf = np.zeros(A.shape[0])
        yf = np.zeros(A.shape[1])
        xf[I[p]] = x[p]
        yf[J[p]] = y[p]
        if (A @ yf).max() <= v[p] + tol and (xf @ B).max() <= u[p] + tol:
            found.append((xf, yf))
    return found


def _indifferent(M: np.ndarray):
    """For each (k, k) block M, the z >= 0 summing to 1 with M z = v 1: returns z (., k) and v.

    Singular blocks (no unique solution) come back as z = -1 so that they are rejected.
    """
    count, k, _ = M.shape
    system = np.zeros((count, k + 1, k + 1))
    system[:, :k, :k] = M
    system[:, :k, k] = -1.0
    system[:, k, :k] = 1.0
    rhs = np.zeros((count, k + 1))
    rhs[:, k] = 1.0
    sv = np.linalg.svd(system, compute_uv=False)
    regular = sv[:, -1] > 1e-10 * sv[:, 0]
    z = np.full((count, k + 1), -1.0)
    if regular.any():
        z[regular] = np.linalg.solve(system[regular], rhs[regular][..., None])[..., 0]
    return z[:, :k], z[:, k]
