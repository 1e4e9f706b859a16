"""Minimax (von Neumann) winners of preference matrices.

For a preference matrix ``P`` (``P[i, j]`` = probability that ``i`` is preferred to ``j``,
``P + P^T = 1`` off the diagonal, ``1/2`` on it) the minimax winner is an optimal strategy of
the symmetric zero-sum game ``P - 1/2``: a mixture ``x`` that is preferred to every candidate
with probability at least ``1/2`` (Kreweras 1965; Fishburn 1984; Dudik et al. 2015, "Contextual
dueling bandits"). It is the solution concept of self-play preference optimization (Swamy et
al. 2024) and Nash learning from human feedback (Munos et al. 2023).

The game is skew-symmetric, so both players share one strategy and ``x^T A = -(A x)^T``: every
double oracle round and every PRM+ iteration costs one matrix-vector product. A Condorcet
winner (a candidate preferred to every other with probability at least 1/2) is returned
without solving anything.

``preference_exploitability`` is the certificate: how far a mixture is from a minimax winner
(or, regularised, from the equilibrium the preference learners target).

``minimax_winner_from_counts`` estimates ``P`` from pairwise win counts (ties as half wins,
missing pairs allowed) and adds a lower confidence bound on the winner's worst-case win rate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm

from metagame._arrays import as_matrix, as_preference_matrix, as_strategy, check_tolerance
from metagame.solvers._linalg import certificate
from metagame.solvers.regularized import regularized_certificate
from metagame.solvers.zero_sum import Equilibrium, solve_zero_sum


def _condorcet_winner(A: np.ndarray) -> int:
    """Index of a candidate with ``A[i, j] >= 0`` for every ``j``, or -1."""
    winners = np.flatnonzero((A >= 0.0).all(axis=1))
    return int(winners[0]) if winners.size else -1


def preference_exploitability(P: Any, x: Any, beta: float = 0.0, reference: Any = None) -> float:
    """How much a best response gains against ``x`` in the preference game ``P - 1/2``.

    With ``beta = 0``: ``max_j Pr(j preferred to x) - 1/2`` (>= 0), the exploitability of the
    symmetric profile (x, x) (``exploitability((P - 1/2, 1/2 - P), [x, x])``), zero exactly at
    a minimax winner. With ``beta > 0``: the same in the KL-regularised game of Nash-MD,
    Nash-MP and INPO, ``max_y [y^T (P - 1/2) x - beta KL(y || mu)] + beta KL(x || mu)`` for the
    reference ``mu`` (uniform by default), i.e. one player's half of
    ``regularized_certificate``'s duality gap at (x, x); zero exactly at the regularised
    equilibrium (what ``solve_regularized`` returns for ``A = P - 1/2``).
    """
    P = as_preference_matrix(P)
    n = P.shape[0]
    x = as_strategy(x, n, "x")
    if beta <= 0:
        return float(np.max(P @ x) - 0.5)
    mu = np.full(n, 1.0 / n) if reference is None else as_strategy(reference, n, "reference")
    log_mu = np.log(np.maximum(mu, 1e-300))
    _, gap, _ = regularized_certificate(P - 0.5, beta, log_mu, log_mu, x, x)
    return gap / 2


def minimax_winner(P: Any, tol: float = 1e-9, method: str = "auto") -> Equilibrium:
    """Minimax winner of the preference matrix ``P``, as an equilibrium of ``P - 1/2``.

    ``row`` (equal to ``col``) is the winner mixture; ``value`` is the game's value 0 (up to
    round-off) and ``gap`` its NashConv, so the winner is preferred to every candidate with
    probability at least ``1/2 - gap / 2``. ``method`` is any of ``solve_zero_sum``'s;
    ``"condorcet"`` is reported when a Condorcet winner made solving unnecessary.
    """
    P = as_preference_matrix(P)
    tol = check_tolerance(tol)
    start = time.perf_counter()
    A = 0.5 * (P - P.T)  # exactly skew-symmetric, equal to P - 1/2 for a preference matrix
    winner = _condorcet_winner(A)
    if winner < 0:
        eq = solve_zero_sum(A, tol=tol, method=method)
        x = eq.row
        iterations, method = eq.iterations, eq.method
    else:
        x = np.zeros(A.shape[0])
        x[winner] = 1.0
        iterations, method = 0, "condorcet"
    value, gap = certificate(A, x, x)
    return Equilibrium(
        row=x,
        col=x.copy(),
        value=value,
        gap=gap,
        iterations=iterations,
        method=method,
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class WinnerEstimate:
    """A minimax winner estimated from counts, with a confidence bound on its quality.

    ``P`` is the estimated preference matrix (1/2 for pairs never compared), ``equilibrium``
    the minimax winner of ``P`` (``row`` is the mixture), ``lower_bounds[j]`` a lower bound on
    the true probability that the mixture is preferred to candidate ``j`` and ``lower_bound``
    their minimum; all bounds hold simultaneously with probability ``confidence``.
    """

    equilibrium: Equilibrium
    P: np.ndarray
    games: np.ndarray
    lower_bounds: np.ndarray
    lower_bound: float
    confidence: float

    @property
    def row(self) -> np.ndarray:
        return self.equilibrium.row


def wilson_lower(p: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """Wilson score lower bounds for success rates ``p`` over ``n`` trials (0 where ``n = 0``)."""
    n_safe = np.maximum(n, 1.0)
    center = p + z * z / (2 * n_safe)
    spread = z * np.sqrt(p * (1 - p) / n_safe + z * z / (4 * n_safe * n_safe))
    return np.where(n > 0, np.clip((center - spread) / (1 + z * z / n_safe), 0.0, 1.0), 0.0)


def minimax_winner_from_counts(
    wins: Any, ties: Any = None, confidence: float = 0.95, tol: float = 1e-9
) -> WinnerEstimate:
    """Minimax winner of the preferences estimated from pairwise counts.

    ``wins[i, j]`` is how often ``i`` beat ``j`` (it may already hold half-wins); ``ties[i, j]``
    (symmetric, optional) how often they tied, each tie counting as half a win for both.
    Pairs never compared get ``P = 1/2`` and a lower bound of 0. The bounds are Wilson score
    bounds on every ``P[i, j]``, Bonferroni-corrected over both directions of every compared
    pair, so they hold jointly (for whatever mixture the data select) with probability at least
    ``confidence``, up to the normal approximation.
    """
    W = as_matrix(wins, "wins")
    n = W.shape[0]
    if W.shape != (n, n):
        raise ValueError(f"wins must be square, got shape {W.shape}")
    if (W < 0).any():
        raise ValueError("wins must be nonnegative counts")
    T = np.zeros_like(W) if ties is None else as_matrix(ties, "ties")
    if T.shape != W.shape:
        raise ValueError(f"ties must have the shape of wins {W.shape}, got {T.shape}")
    if (T < 0).any() or not np.allclose(T, T.T):
        raise ValueError("ties must be a symmetric matrix of nonnegative counts")
    if not (isinstance(confidence, int | float) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    games = W + W.T + T
    np.fill_diagonal(games, 0.0)
    scores = W + 0.5 * T
    P = np.where(games > 0, scores / np.where(games > 0, games, 1.0), 0.5)
    np.fill_diagonal(P, 0.5)
    eq = minimax_winner(P, tol=tol)
    x = eq.row
    comparisons = max(1, int(np.count_nonzero(games)))  # both directions of each compared pair
    z = float(norm.ppf(1.0 - (1.0 - confidence) / comparisons))
    L = wilson_lower(P, games, z)
    np.fill_diagonal(L, 0.5)  # a candidate against itself ties: exactly 1/2
    lower_bounds = x @ L
    return WinnerEstimate(
        equilibrium=eq,
        P=P,
        games=games,
        lower_bounds=lower_bounds,
        lower_bound=float(lower_bounds.min()),
        confidence=float(confidence),
    )
