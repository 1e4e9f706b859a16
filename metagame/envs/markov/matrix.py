"""Two-player matrix games, one-shot or repeated for k rounds, and a catalog by name.

The catalog holds the classic 2x2 and 3x3 games of the textbooks (Osborne & Rubinstein 1994,
ch. 2-3): rock-paper-scissors (zero-sum, uniform equilibrium), biased RPS (as in OpenSpiel's
``matrix_brps``), matching pennies, the prisoner's dilemma, stag hunt, chicken, battle of the
sexes, and Shapley's (1964) 3x3 game on which fictitious play cycles.

The k-round repeated game is a Markov game whose state is the round and the previous joint
action (observation ``[round, last_a, last_b]``, ``-1`` before the first round), so history-one
strategies such as tit-for-tat are stationary policies of it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from metagame.envs.markov.base import MarkovGameEnv, transition_matrix


class MatrixGame(NamedTuple):
    """A catalog entry: row payoffs ``A``, column payoffs ``B`` and action names."""

    A: np.ndarray
    B: np.ndarray
    row_actions: tuple[str, ...]
    col_actions: tuple[str, ...]


def _same_actions(A, B, actions):
    """A bimatrix game whose two players choose among the same ``actions``."""
    A, B = (np.asarray(M, dtype=np.float64) for M in (A, B))
    return MatrixGame(A, B, actions, actions)


def _zero_sum(A, actions):
    return _same_actions(A, -np.asarray(A, dtype=np.float64), actions)


_RPS = ("rock", "paper", "scissors")

CATALOG: dict[str, MatrixGame] = {
    "rps": _zero_sum([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], _RPS),
    "biased_rps": _zero_sum([[0, -25, 50], [25, 0, -5], [-50, 5, 0]], _RPS),
    "matching_pennies": _zero_sum([[1, -1], [-1, 1]], ("heads", "tails")),
    "prisoners_dilemma": _same_actions([[3, 0], [5, 1]], [[3, 5], [0, 1]], ("cooperate", "defect")),
    "stag_hunt": _same_actions([[2, 0], [1, 1]], [[2, 1], [0, 1]], ("stag", "hare")),
    "chicken": _same_actions([[0, 4], [1, 3]], [[0, 1], [4, 3]], ("dare", "chicken")),
    "battle_of_the_sexes": _same_actions(
        [[3, 0], [0, 2]], [[2, 0], [0, 3]], ("bach", "stravinsky")
    ),
    "shapley": _same_actions(
        [[0, 0, 1], [1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1], [1, 0, 0]], _RPS
    ),
}


def _payoff(M: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(M, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric matrix ({err})") from None
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{name} must be a non-empty 2-D matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


MAX_STATES = 2_000_000  # the tabular export holds one state per round and joint action


class MatrixGameEnv(MarkovGameEnv):
    """A matrix game as a PettingZoo Parallel env, played once or repeated ``rounds`` times.

    Args:
        game: a catalog name (see ``CATALOG``); ignored when ``A`` is given.
        A: row player's payoffs ``(m, n)``. B: column player's payoffs (default ``-A``).
        rounds: number of rounds (1 = one-shot).
    """

    def __init__(
        self,
        game: str | None = None,
        A: Any = None,
        B: Any = None,
        rounds: int = 1,
        render_mode: str | None = None,
    ):
        if A is None and B is not None:
            raise ValueError("B was given without A: give A (and B), or game=")
        if A is None:
            name = "rps" if game is None else game
            if name not in CATALOG:
                raise ValueError(f"unknown matrix game {name!r}; catalog: {', '.join(CATALOG)}")
            entry = CATALOG[name]
            A, B, rows, cols = entry.A, entry.B, entry.row_actions, entry.col_actions
            self.name = name
        else:
            if game is not None:
                raise ValueError("give either game= or A (and B), not both")
            A = _payoff(A, "A")
            B = -A if B is None else _payoff(B, "B")
            if B.shape != A.shape:
                raise ValueError(f"B must have A's shape {A.shape}, got {B.shape}")
            rows = tuple(f"a{i}" for i in range(A.shape[0]))
            cols = tuple(f"b{j}" for j in range(A.shape[1]))
            self.name = "custom"
        if not isinstance(rounds, int | np.integer) or rounds < 1:
            raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
        if (rounds - 1) * A.size > MAX_STATES:
            raise ValueError(
                f"rounds={rounds} of a {A.shape} game gives over {MAX_STATES} states: too many"
            )
        self.A, self.B, self.rounds = np.array(A), np.array(B), int(rounds)
        self.row_actions, self.col_actions = rows, cols
        m, n = self.A.shape
        # states: 0 = first round; 1 + (r-1)*m*n + a*n + b = round r after (a, b); last = end
        S = 2 + (self.rounds - 1) * m * n
        end = S - 1
        obs = np.full((S, 3), -1.0)
        obs[0, 0], obs[end, 0] = 0, self.rounds
        for r in range(1, self.rounds):
            ids = 1 + (r - 1) * m * n + np.arange(m * n)
            obs[ids, 0] = r
            obs[ids, 1], obs[ids, 2] = np.divmod(np.arange(m * n), n)
        succ = np.full((S, m * n), end)
        for s in range(S - 1):
            r = int(obs[s, 0])
            if r + 1 < self.rounds:
                succ[s] = 1 + r * m * n + np.arange(m * n)
        rewards = np.zeros((2, S, m, n))
        rewards[0, :end], rewards[1, :end] = self.A, self.B
        initial = np.zeros(S)
        initial[0] = 1.0
        terminal = np.zeros(S, dtype=bool)
        terminal[end] = True
        self._set_model(
            ["player_0", "player_1"],
            rewards,
            transition_matrix(succ.reshape(-1, 1), np.ones((S * m * n, 1)), S),
            initial,
            terminal,
            obs,
            gamma=1.0,
            render_mode=render_mode,
        )

    def _frame(self) -> np.ndarray:
        from metagame.envs.markov.render import draw_matrix

        return draw_matrix(
            self.A,
            self.B,
            self.row_actions,
            self.col_actions,
            self._last,
            round_=self._t,
            rounds=self.rounds,
        )


def matrix_game(A: Any, B: Any = None, rounds: int = 1, **kwargs: Any) -> MatrixGameEnv:
    """The matrix game with payoffs ``A`` (row) and ``B`` (column, default ``-A``)."""
    return MatrixGameEnv(A=A, B=B, rounds=rounds, **kwargs)
