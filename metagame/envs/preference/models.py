"""Preference models: matrices P with P[i, j] = Pr(candidate i is preferred to candidate j).

Every model returns a preference matrix (entries in [0, 1], P + P^T = 1, 1/2 on the diagonal):

- ``bradley_terry(scores)``: P[i, j] = sigmoid(s_i - s_j) (Bradley & Terry, 1952); transitive,
  its minimax winner is the pure top-scoring candidate.
- ``rater_panel(utilities)``: a panel of raters with different criteria, aggregated by majority
  (or by the proportion of raters); majority voting creates Condorcet cycles (Condorcet, 1785)
  so that no candidate beats every other.
- ``cyclic_panel(n)``: the classic Latin-square panel whose majority is a Condorcet cycle.
- ``skew_symmetric_noise(P, scale, seed)``: P + E with E = -E^T, which keeps P a preference
  matrix and makes a transitive score model intransitive.

The symmetric zero-sum game of a preference matrix has payoff A = P - 1/2; its maximin mixture is
the minimax (von Neumann) winner (Kreweras 1965; Fishburn 1984; Dudik et al., 2015).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from metagame._arrays import as_array, as_matrix, as_preference_matrix


def bradley_terry(scores) -> np.ndarray:
    """P[i, j] = 1 / (1 + exp(s_j - s_i)) for real scores ``s``."""
    s = as_array(scores, "scores", ndim=1)
    return 0.5 * (1.0 + np.tanh(0.5 * (s[:, None] - s[None, :])))


def rater_panel(
    utilities, weights=None, aggregate: Literal["majority", "proportion"] = "majority"
) -> np.ndarray:
    """Aggregates raters' utilities ``(k raters, n candidates)`` into a preference matrix.

    Rater r prefers i to j when ``utilities[r, i] > utilities[r, j]`` (a tie is half a vote).
    ``aggregate="proportion"`` gives the weighted fraction of votes for i over j; ``"majority"``
    gives 1, 1/2 or 0 as the weighted majority prefers i, is split, or prefers j.
    """
    U = as_matrix(utilities, "utilities")
    k = U.shape[0]
    w = np.ones(k) if weights is None else as_array(weights, "weights", ndim=1)
    if w.shape[0] != k or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {k} non-negative numbers with a positive sum")
    votes = np.sign(U[:, :, None] - U[:, None, :])  # (k, n, n): +1 prefers i, -1 prefers j
    share = 0.5 + 0.5 * np.tensordot(w / w.sum(), votes, axes=1)
    if aggregate == "proportion":
        return share
    if aggregate == "majority":
        return 0.5 + 0.5 * np.sign(np.round(share - 0.5, 12))
    raise ValueError(f"aggregate must be 'majority' or 'proportion', got {aggregate!r}")


def cyclic_panel(n: int = 3) -> np.ndarray:
    """Majority of n raters whose rankings are the n rotations of (0, 1, ..., n-1).

    For odd n every candidate beats (n-1)/2 others and loses to the rest: a Condorcet cycle
    whose unique minimax winner is the uniform mixture.
    """
    if not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    ranks = (np.arange(n)[None, :] - np.arange(n)[:, None]) % n
    return rater_panel(-ranks.astype(float))


def skew_symmetric_noise(P, scale: float, seed: int = 0) -> np.ndarray:
    """P + E clipped to [0, 1], with E skew-symmetric, E[i, j] ~ Uniform(-scale, scale)."""
    P = as_preference_matrix(P)
    if not (np.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a non-negative finite number, got {scale!r}")
    rng = np.random.default_rng(seed)
    E = np.triu(rng.uniform(-scale, scale, size=P.shape), k=1)
    return np.clip(P + E - E.T, 0.0, 1.0)


def condorcet_winner(P) -> int | None:
    """The candidate preferred to every other with probability > 1/2, or None if none is."""
    P = as_preference_matrix(P)
    beats = (P > 0.5) | np.eye(P.shape[0], dtype=bool)
    winners = np.flatnonzero(beats.all(axis=1))
    return int(winners[0]) if winners.size else None
