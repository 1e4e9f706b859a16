"""Ratings of the population from its match results and its meta-game.

- OpenSkill: Weng and Lin (2011), "A Bayesian approximation method for online ranking", JMLR
  12; each player's skill is a Gaussian (mu, sigma), updated match by match in match order
  (Plackett-Luce model of the ``openskill`` package; equal returns are a tie).
- Elo (1978): logistic expected score on a 400-point scale, K-factor updates in match order.
- Nash averaging: Balduzzi et al. (2018), "Re-evaluating evaluation", NeurIPS; the rating of
  a player is its expected payoff against the meta-game's Nash mixture in the other seats
  (``metagame.league.empirical_game.member_values``; Balduzzi et al. use the maximum-entropy
  Nash, we use the one the meta-solver returns).
- alpha-rank: Omidshafiei et al. (2019), "alpha-Rank: multi-agent evaluation by evolution",
  Scientific Reports 9; each player's stationary mass (the empirical game's ``alpharank``).

A match of n seats is one Plackett-Luce update with a team per seat, and n (n - 1) / 2 Elo
pairs. One-player populations are rated by their mean return.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from metagame.league.store import Match

ELO_START = 1200.0


# Games whose two-player returns are (2P - 1, 1 - 2P) for P = Pr(seat 0's play is preferred),
# either a drawn verdict (+-1) or a judge's probability itself (metagame.envs.preference).
PREFERENCE_GAMES = ("preference", "trajectory_preference", "llm_duel")


def outcome_scores(returns: Sequence[float]) -> tuple[float, float]:
    """Scores (1, 0), (0, 1) or (1/2, 1/2) of a two-player match from its returns."""
    a, b = returns
    return (1.0, 0.0) if a > b else (0.0, 1.0) if b > a else (0.5, 0.5)


def preference_scores(returns: Sequence[float]) -> tuple[float, float]:
    """(P, 1 - P) of a preference match from its returns (2P - 1, 1 - 2P): a soft judge's
    probability counts as itself, not as a win or a loss."""
    a, b = returns
    return (1.0 + a) / 2.0, (1.0 + b) / 2.0


def match_scores(game: str | None) -> Callable[[Sequence[float]], tuple[float, float]]:
    """How a two-player match of ``game`` scores: by preference in a preference game
    (``PREFERENCE_GAMES``), else win, draw or loss by its returns."""
    return preference_scores if game in PREFERENCE_GAMES else outcome_scores


def _ranks(returns: Sequence[float]) -> list[int]:
    """Plackett-Luce ranks of the seats: 0 for the highest return, ties share a rank."""
    values = sorted(set(returns), reverse=True)
    return [values.index(r) for r in returns]


def _seated(matches: Iterable[Match], index: dict[str, int]) -> Iterable[tuple[list[int], Match]]:
    """Matches of two or more seats whose players are all in ``index``, with their indices."""
    for m in matches:
        if len(m.players) >= 2 and all(p in index for p in m.players):
            yield [index[p] for p in m.players], m


def elo(
    matches: Iterable[Match], ids: Sequence[str], k: float = 16.0, scores=outcome_scores
) -> np.ndarray:
    """Elo ratings after every match between ``ids`` in order; a match of n seats counts as
    its n (n - 1) / 2 pairs of seats, scored by ``scores`` (see :func:`match_scores`) and
    updated together."""
    index = {pid: n for n, pid in enumerate(ids)}
    r = np.full(len(ids), ELO_START)
    for seats, m in _seated(matches, index):
        delta = np.zeros_like(r)
        for a, b in itertools.combinations(range(len(seats)), 2):
            i, j = seats[a], seats[b]
            if i == j:
                continue
            score = scores((m.returns[a], m.returns[b]))[0]
            expected = 1.0 / (1.0 + 10.0 ** ((r[j] - r[i]) / 400.0))
            delta[i] += k * (score - expected)
            delta[j] -= k * (score - expected)
        r += delta
    return r


def openskill(matches: Iterable[Match], ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Weng-Lin (Plackett-Luce) mu and sigma after every match in order, one team per seat
    ranked by return (a player in several seats of one match is rated once, by its first)."""
    from openskill.models import PlackettLuce

    model = PlackettLuce()
    index = {pid: n for n, pid in enumerate(ids)}
    ratings = [model.rating(name=pid) for pid in ids]
    for seats, m in _seated(matches, index):
        first = [s for s, i in enumerate(seats) if i not in seats[:s]]
        if len(first) < 2:
            continue
        ranks = _ranks([m.returns[s] for s in first])
        rated = model.rate([[ratings[seats[s]]] for s in first], ranks=ranks)
        for s, (team,) in zip(first, rated, strict=True):
            ratings[seats[s]] = team
    return np.array([r.mu for r in ratings]), np.array([r.sigma for r in ratings])


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
    *,
    nash: np.ndarray,
    nash_rating: np.ndarray,
    alpharank: np.ndarray,
    one_player: bool = False,
    crowd: bool = False,
    scores=outcome_scores,
) -> Standings:
    """All ratings at once: OpenSkill and Elo from the matches, the meta-game's Nash mass,
    Nash-averaged rating and alpha-rank mass as given (from ``metagame.league.empirical_game``).
    One-role leagues (a task, a team): mu is the mean return of a player's own matches (the
    team's cross-play aside), sigma its std, Elo the mean return. A one-role crowd (``crowd``):
    mu averages the player's return over every seat it took, alone and in cross-play beside
    other members (each seat's return is its own agents'). Elo scores matches by ``scores``."""
    ids = list(ids)
    index = {pid: n for n, pid in enumerate(ids)}
    games = np.zeros(len(ids), dtype=np.int64)
    for m in matches:
        for pid in set(m.players) & set(index):
            games[index[pid]] += 1
    if one_player:
        seated = matches if crowd else [m for m in matches if len(m.players) == 1]
        per = [
            [r for m in seated for p, r in zip(m.players, m.returns, strict=True) if p == pid]
            for pid in ids
        ]
        mu = np.array([np.mean(r) if r else 0.0 for r in per])
        sigma = np.array([np.std(r) if r else 0.0 for r in per])
        return Standings(ids, mu, sigma, mu.copy(), nash, nash_rating, alpharank, games)
    mu, sigma = openskill(matches, ids)
    ratings = elo(matches, ids, scores=scores)
    return Standings(ids, mu, sigma, ratings, nash, nash_rating, alpharank, games)
