"""Double oracle for zero-sum games whose equilibria have small supports.

Solve the game restricted to a few rows and columns exactly (``_simplex``), then add the best
responses of each player to the other's restricted equilibrium; stop when the NashConv of the
restricted equilibrium, extended by zeros, is within tolerance (McMahan, Gordon and Blum 2003,
"Planning in the presence of cost functions controlled by an adversary"). Each round re-solves
the grown restricted game warm from the previous optimal tableau (``RestrictedGame``: dual simplex
for the new rows, primal for the new columns) and costs two products with the full matrix, one
when the game is skew-symmetric (both players then share the restricted set and the strategy).
"""

from __future__ import annotations

import time

import numpy as np

from metagame.solvers._linalg import mat_vec, vec_mat
from metagame.solvers._simplex import RestrictedGame


def _best_new(payoff: np.ndarray, members: np.ndarray, threshold: float, count: int) -> list:
    """Up to ``count`` non-members with ``payoff > threshold``, best first."""
    candidates = np.flatnonzero((payoff > threshold) & ~members)
    order = np.argsort(-payoff[candidates], kind="stable")[:count]
    return candidates[order].tolist()


def double_oracle(
    A: np.ndarray,
    tol: float,
    rows: list[int],
    cols: list[int],
    symmetric: bool = False,
    max_iter: int | None = None,
    deadline: float = np.inf,
    max_support: int | None = None,
):
    """Returns ``(x, y, gap, rounds, complete)``.

    ``complete`` is False when ``max_support`` restricted strategies (per player) were exceeded
    before reaching ``tol``, the signal that the support is not small after all.
    """
    m, n = A.shape
    rows = list(dict.fromkeys(rows + cols if symmetric else rows))
    cols = rows if symmetric else list(dict.fromkeys(cols))
    game = RestrictedGame(A, rows, cols)
    in_rows = np.zeros(m, dtype=bool)
    in_cols = np.zeros(n, dtype=bool)
    in_rows[rows] = True
    in_cols[cols] = True
    Ay, xA = np.empty(m), np.empty(n)
    rounds = 0
    while True:
        xs, ys, value = game.solution()
        x, y = np.zeros(m), np.zeros(n)
        x[game.rows] = xs
        y[game.cols] = xs if symmetric else ys
        mat_vec(A, y, Ay)
        if symmetric:
            xA[:] = -Ay
        else:
            vec_mat(x, A, xA)
        gap = max(float(Ay.max() - xA.min()), 0.0)
        rounds += 1
        out_of_budget = max_iter is not None and rounds >= max_iter
        if gap <= tol or out_of_budget or time.perf_counter() > deadline:
            return x, y, gap, rounds, True
        slack = 1e-12 * (1.0 + abs(value))
        grow = max(1, game.rows.size // 2)
        new_rows = _best_new(Ay, in_rows, value + slack, grow)
        new_cols = _best_new(-xA, in_cols, -value + slack, grow)
        if symmetric:
            new_rows = new_cols = list(dict.fromkeys(new_rows + new_cols))
        if not new_rows and not new_cols:
            return x, y, gap, rounds, True
        in_rows[new_rows] = True
        in_cols[new_cols] = True
        if max_support is not None and max(in_rows.sum(), in_cols.sum()) > max_support:
            return x, y, gap, rounds, False
        game.add(new_rows, new_cols)
