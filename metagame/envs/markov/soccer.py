"""Littman's two-player zero-sum soccer (Littman 1994, "Markov games as a framework for
multi-agent reinforcement learning", ICML).

A 4x5 grid; player_0 (A) attacks the left goal and player_1 (B) the right one, each goal being
the two middle rows just beyond the edge column. Actions are N, S, E, W and stand; the two
moves are executed in random order (each order with probability 1/2). A move into the square
occupied by the other player does not happen and the ball goes to the stationary player. The
ball carrier moving into a goal ends the episode: +1 to the side attacking that goal (an own
goal scores for the opponent), -1 to the other. The reward of a step is the one the drawn move
order realised; the exported ``R[s, a, b]`` is its expectation over the two orders. At
kick-off A stands at (1, 3) and B at (2, 1) and possession is drawn at random. The solvers
discount with gamma = 0.9; play is truncated at ``horizon`` steps.

States: ``(A's square, B's square, ball holder)`` for distinct squares, 20 * 19 * 2 = 760, plus
two terminal states "A scored" and "B scored". The observation is
``[row_A, col_A, row_B, col_B, holder]`` (all -1 but the holder in a terminal state).
The game is symmetric under swapping the players and rotating the board by 180 degrees.
"""

from __future__ import annotations

import functools

import numpy as np

from metagame.envs.markov.base import MarkovGameEnv, transition_matrix

ROWS, COLS = 4, 5
GOAL_ROWS = (1, 2)
ACTIONS = ("N", "S", "E", "W", "stand")
MOVES = np.array([(-1, 0), (1, 0), (0, 1), (0, -1), (0, 0)])
KICKOFF = ((1, 3), (2, 1))


def state_index(a: tuple[int, int], b: tuple[int, int], holder: int) -> int:
    """Id of the state with A on square ``a``, B on ``b`` and the ball with ``holder``."""
    ia, ib = a[0] * COLS + a[1], b[0] * COLS + b[1]
    if ia == ib:
        raise ValueError(f"players cannot share square {a}")
    return (ia * (ROWS * COLS - 1) + (ib - (ib > ia))) * 2 + holder


def _decode(s: int) -> tuple[list[tuple[int, int]], int]:
    pair, holder = divmod(s, 2)
    ia, ib = divmod(pair, ROWS * COLS - 1)
    ib += ib >= ia
    return [divmod(ia, COLS), divmod(ib, COLS)], holder


def _move(pos: list, holder: int, i: int, action: int):
    """Moves player i; returns (pos, holder, scorer or None)."""
    r, c = pos[i][0] + MOVES[action][0], pos[i][1] + MOVES[action][1]
    if holder == i and r in GOAL_ROWS and c in (-1, COLS):
        return pos, holder, 0 if c == -1 else 1
    if not (0 <= r < ROWS and 0 <= c < COLS) or action == 4:
        return pos, holder, None
    if (r, c) == pos[1 - i]:
        return pos, 1 - i, None
    pos = list(pos)
    pos[i] = (r, c)
    return pos, holder, None


@functools.cache
def soccer_model():
    """(successors (S*25, 2), probabilities (S*25, 2), observations): the two move orders of
    every joint action and where each leads, computed once (read-only arrays)."""
    n = ROWS * COLS * (ROWS * COLS - 1) * 2
    S = n + 2  # n: A scored, n + 1: B scored
    succ = np.zeros((S, 5, 5, 2), dtype=np.int64)
    obs = np.full((S, 5), -1.0)
    obs[n, 4], obs[n + 1, 4] = 0, 1
    succ[n], succ[n + 1] = n, n + 1
    for s in range(n):
        pos, holder = _decode(s)
        obs[s] = (*pos[0], *pos[1], holder)
        for a in range(5):
            for b in range(5):
                acts = (a, b)
                for k, (first, second) in enumerate(((0, 1), (1, 0))):
                    p, h, goal = _move(pos, holder, first, acts[first])
                    if goal is None:
                        p, h, goal = _move(p, h, second, acts[second])
                    succ[s, a, b, k] = n + goal if goal is not None else state_index(p[0], p[1], h)
    out = succ.reshape(S * 25, 2), np.full((S * 25, 2), 0.5), obs
    for arr in out:
        arr.flags.writeable = False
    return out


def goal_rewards(T) -> np.ndarray:
    """``(2, nnz)``: the reward each stored transition of the soccer matrix ``T`` realises, +-1
    on a move from play into a goal state (the move that happened, never an average over the
    move orders) and 0 otherwise."""
    n = ROWS * COLS * (ROWS * COLS - 1) * 2
    from_play = np.repeat(np.arange(T.shape[0]) // 25 < n, np.diff(T.indptr))
    r = from_play * ((T.indices == n).astype(np.float64) - (T.indices == n + 1))
    return np.stack([r, -r])


class SoccerEnv(MarkovGameEnv):
    """Littman's soccer as a PettingZoo Parallel env (see the module docstring).

    Args:
        horizon: steps after which an episode is truncated (a draw).
        gamma: discount exported for the solvers (0.9 as in Littman 1994).
    """

    def __init__(self, horizon: int = 100, gamma: float = 0.9, render_mode: str | None = None):
        if not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        succ, probs, obs = soccer_model()
        S = obs.shape[0]
        T = transition_matrix(succ, probs, S)
        initial = np.zeros(S)
        initial[[state_index(*KICKOFF, 0), state_index(*KICKOFF, 1)]] = 0.5
        terminal = np.zeros(S, dtype=bool)
        terminal[-2:] = True
        self.horizon = int(horizon)
        self._set_model(
            ["player_0", "player_1"],
            None,
            T,
            initial,
            terminal,
            obs,
            gamma=gamma,
            max_steps=self.horizon,
            render_mode=render_mode,
            outcome_rewards=goal_rewards(T),
            shape=(5, 5),
        )

    def _frame(self) -> np.ndarray:
        from metagame.envs.markov.render import draw_soccer

        o = self._obs[self._state].astype(int)
        if self._terminal[self._state]:
            return draw_soccer(None, None, None, scorer=int(o[4]))
        return draw_soccer((o[0], o[1]), (o[2], o[3]), int(o[4]))


def swap_players(s: int) -> int:
    """The state with the players' roles exchanged and the board rotated by 180 degrees."""
    n = ROWS * COLS * (ROWS * COLS - 1) * 2
    if s >= n:
        return n + (1 - (s - n))
    (a, b), holder = _decode(s)
    return state_index(_rotate(b), _rotate(a), 1 - holder)


def _rotate(square: tuple[int, int]) -> tuple[int, int]:
    return ROWS - 1 - square[0], COLS - 1 - square[1]
