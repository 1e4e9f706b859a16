"""Ratings of the population from its match results and its meta-game.

- OpenSkill: Weng and Lin (2011), "A Bayesian approximation method for online ranking", JMLR
  12; each player's skill is a Gaussian (mu, sigma), updated match by match in match order
  (Plackett-Luce model of the ``openskill`` package; equal returns are a tie).
- Elo (1978): logistic expected score on a 400-point scale, K-factor updates in match order.
- Nash averaging: Balduzzi et al. (2018), "Re-evaluating evaluation", NeurIPS; the rating of
  player i is its expected payoff against the meta-game's Nash mixture, (A p)_i, where A is the
  antisymmetric part of the payoff table (Balduzzi et al. use the maximum-entropy Nash; we use
  the Nash ``solve_zero_sum`` returns).
- alpha-rank: Omidshafiei et al. (2019), "alpha-Rank: multi-agent evaluation by evolution",
  Scientific Reports 9; the stationary mass of each player, via ``metagame.solvers.alpharank``.

One-player populations are rated by their mean return.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from metagame.league.store import Match

ELO_START = 1200.0


def outcome_scores(returns: Sequence[float]) -> tuple[float, float]:
    """Scores (1, 0), (0, 1) or (1/2, 1/2) of a two-player match from its returns."""
    a, b = returns
    return (1.0, 0.0) if a > b else (0.0, 1.0) if b > a else (0.5, 0.5)


def _pairs(matches: Iterable[Match], index: dict[str, int]) -> Iterable[tuple[int, int, float]]:
    for m in matches:
        if len(m.players) == 2 and all(p in index for p in m.players):
            i, j = index[m.players[0]], index[m.players[1]]
            if i != j:
                yield i, j, outcome_scores(m.returns)[0]


def elo(matches: Iterable[Match], ids: Sequence[str], k: float = 16.0) -> np.ndarray:
    """Elo ratings after every two-player match between ``ids`` in order."""
    index = {pid: n for n, pid in enumerate(ids)}
    r = np.full(len(ids), ELO_START)
    for i, j, score in _pairs(matches, index):
        expected = 1.0 / (1.0 + 10.0 ** ((r[j] - r[i]) / 400.0))
        r[i] += k * (score - expected)
        r[j] -= k * (score - expected)
    return r


def openskill(matches: Iterable[Match], ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weng-Lin (Plackett-Luce) mu and sigma after every two-player match in order."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    index = {pid: n for n, pid in enumerate(ids)}
    ratings = [model.rating(name=pid) for pid in ids]
    for i, j, score in _pairs(matches, index):
        ranks = [0, 0] if score == 0.5 else [0, 1] if score == 1.0 else [1, 0]
        (ratings[i],), (ratings[j],) = model.rate([[ratings[i]], [ratings[j]]], ranks=ranks)
    return np.array([r.mu for r in ratings]), np.array([r.sigma for r in ratings])


def nash_averaging(payoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nash mixture p of the antisymmetrized meta-game and the Nash-averaged ratings A p."""
    from metagame.solvers import solve_zero_sum

    M = np.asarray(payoffs, dtype=np.float64)
    A = 0.5 * (M - M.T)
    if len(A) == 1:
        return np.ones(1), np.zeros(1)
    p = np.clip(solve_zero_sum(A).row, 0.0, None)
    p /= p.sum()
    return p, A @ p


def alpharank_mass(payoffs: np.ndarray) -> np.ndarray:
    """alpha-rank stationary mass over the population (single-population, symmetric game)."""
    from metagame.league.matchmaking import meta_strategy

    return meta_strategy(payoffs, "alpharank")


@dataclass(frozen=True)
class Standings:
    """Every rating of every player, in the order of ``ids``."""

    ids: list[str]
    mu: np.ndarray
    sigma: np.ndarray
    elo: np.ndarray
    nash: np.ndarray  # Nash mass (for one-player games: 1 on the best mean return)
    nash_rating: np.ndarray
    alpharank: np.ndarray
    games: np.ndarray

    def rows(self) -> list[dict[str, float | str | int]]:
        return [
            {
                "player": pid,
                "mu": float(self.mu[n]),
                "sigma": float(self.sigma[n]),
                "elo": float(self.elo[n]),
                "nash": float(self.nash[n]),
                "alpharank": float(self.alpharank[n]),
                "games": int(self.games[n]),
            }
            for n, pid in enumerate(self.ids)
        ]


def standings(
    matches: Sequence[Match],
    ids: Sequence[str],
    payoffs: np.ndarray,
    counts: np.ndarray,
    *,
    num_seats: int = 2,
    with_alpharank: bool = True,
) -> Standings:
    """All ratings at once. One-player populations: mu is the mean return, sigma its std."""
    ids = list(ids)
    n = len(ids)
    if num_seats == 1:
        per = [[m.returns[0] for m in matches if m.players[0] == pid] for pid in ids]
        mu = np.array([np.mean(r) if r else 0.0 for r in per])
        sigma = np.array([np.std(r) if r else 0.0 for r in per])
        best = np.zeros(n)
        if n:
            best[int(np.argmax(mu))] = 1.0
        games = np.array([len(r) for r in per])
        return Standings(ids, mu, sigma, mu.copy(), best, mu.copy(), best.copy(), games)
    mu, sigma = openskill(matches, ids)
    nash, rating = nash_averaging(payoffs) if n else (np.zeros(0), np.zeros(0))
    alpha = alpharank_mass(payoffs) if with_alpharank and n > 1 else nash.copy()
    games = counts.sum(axis=1) if n else np.zeros(0, dtype=np.int64)
    return Standings(ids, mu, sigma, elo(matches, ids), nash, rating, alpha, games)
