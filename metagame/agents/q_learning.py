"""Q-learning for two-player zero-sum Markov games: minimax-Q and independent Q-learning.

Minimax-Q (Littman 1994, "Markov games as a framework for multi-agent reinforcement
learning") keeps ``Q[s, a, o]`` over joint actions and replaces Q-learning's max by the value
of the stage game: after each step

    Q[s, a, o] <- (1 - alpha) Q[s, a, o] + alpha (r + gamma V[s'])
    pi[s], V[s] <- the maximin strategy and value of the matrix game Q[s]

(the stage game solved exactly by the Numba simplex of ``metagame.solvers``). Independent
Q-learning (Watkins 1989, each player ignoring the other) keeps ``Q_i[s, a_i]`` and ends with
greedy deterministic policies, which an opponent can exploit in games that need mixing.

Both learn from the game's arrays (``tabular()``), simulated in a Numba loop: each player acts
uniformly at random with probability ``explore`` and otherwise from its current policy; the
learning rate decays geometrically (Littman used ``alpha = 1`` decaying to ``0.01`` over the
run). Episodes that reach a terminal state restart from the initial distribution. All random
draws come from one ``numpy`` generator seeded by ``seed``; ``minimax_q_reference`` and
``independent_q_reference`` are pure-NumPy references written from the updates above, seat by
seat over dense arrays, against which the tests check the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from metagame.progress import progress
from metagame.solvers._simplex import simplex_game, simplex_game_reference


@dataclass(frozen=True)
class QLearningRun:
    """Result of a learning run: ``policies[i][s]`` is player i's stage strategy, ``Q[i]`` its
    table (``(S, A_i, A_-i)`` for minimax-Q, ``(S, A_i)`` for Q-learning), ``V[i]`` its state
    values; ``steps`` environment steps were taken over ``episodes`` episodes."""

    policies: tuple[np.ndarray, np.ndarray]
    Q: tuple[np.ndarray, np.ndarray]
    V: tuple[np.ndarray, np.ndarray]
    steps: int
    episodes: int
    algorithm: str


@njit(cache=True)
def _draw(p, u):
    """Index drawn from probabilities ``p`` with the uniform ``u``."""
    total = 0.0
    for i in range(p.shape[0]):
        total += p[i]
    acc = 0.0
    for i in range(p.shape[0]):
        acc += p[i]
        if u * total < acc:
            return i
    return p.shape[0] - 1


@njit(cache=True)
def _act(pi, explore, u_explore, u_act):
    if u_explore < explore:
        return min(int(u_act * pi.shape[0]), pi.shape[0] - 1)
    return _draw(pi, u_act)


@njit(cache=True)
def _successor(indptr, indices, data, row, u):
    lo, hi = indptr[row], indptr[row + 1]
    return indices[lo + _draw(data[lo:hi], u)]


class GameArrays(NamedTuple):
    """A two-player zero-sum Markov game as the kernels read it."""

    R: np.ndarray  # (S, A, B) the row player's reward
    indptr: np.ndarray  # CSR rows (s * A + a) * B + b -> successor states
    indices: np.ndarray
    probs: np.ndarray
    initial: np.ndarray  # (S,) initial distribution
    terminal: np.ndarray  # (S,) bool


class Schedule(NamedTuple):
    gamma: float
    decay: float  # the learning rate's factor per step
    explore: float  # probability of a uniform action


class Walk(NamedTuple):
    """Where the simulation stands between chunks of draws (changed in place)."""

    position: np.ndarray  # int64 [state (-1 before the first step), episodes]
    alpha: np.ndarray  # float64 [learning rate]


class MinimaxQTables(NamedTuple):
    Q1: np.ndarray  # (S, A, B)
    Q2: np.ndarray  # (S, B, A)
    pi1: np.ndarray
    pi2: np.ndarray
    V1: np.ndarray
    V2: np.ndarray

    @classmethod
    def start(cls, S: int, A: int, B: int) -> MinimaxQTables:
        """Zero values and uniform stage strategies."""
        zeros = np.zeros
        return cls(zeros((S, A, B)), zeros((S, B, A)), np.full((S, A), 1.0 / A),
                   np.full((S, B), 1.0 / B), zeros(S), zeros(S))  # fmt: skip

    def learned(self):
        """The players' (policies, Q tables, state values)."""
        return (self.pi1, self.pi2), (self.Q1, self.Q2), (self.V1, self.V2)


class QTables(NamedTuple):
    Q1: np.ndarray  # (S, A)
    Q2: np.ndarray  # (S, B)

    @classmethod
    def start(cls, S: int, A: int, B: int) -> QTables:
        """Zero values."""
        return cls(np.zeros((S, A)), np.zeros((S, B)))

    def learned(self):
        """The players' greedy (deterministic) policies, Q tables and state values."""
        greedy = tuple(np.eye(Q.shape[1])[Q.argmax(1)] for Q in self)
        return greedy, tuple(self), tuple(Q.max(1) for Q in self)


CHUNK = 50_000  # steps per kernel call, between progress updates


@njit(cache=True)
def _start(game, walk, draws):
    """The state the walk is in: drawn from the initial distribution on the first step."""
    if walk.position[0] < 0:
        walk.position[0] = _draw(game.initial, draws[0, 5])
    return walk.position[0]


@njit(cache=True)
def _next_state(game, s, a, b, u_next, u_restart, walk):
    """The successor of (s, a, b), or a fresh initial state when it is terminal."""
    A, B = game.R.shape[1], game.R.shape[2]
    s2 = _successor(game.indptr, game.indices, game.probs, (s * A + a) * B + b, u_next)
    if game.terminal[s2]:
        walk.position[1] += 1
        return s2, _draw(game.initial, u_restart)
    return s2, s2


@njit(cache=True)
def minimax_q_kernel(game, schedule, draws, walk, tables):
    """Runs minimax-Q for both players over ``draws`` (one row per step), in place."""
    A, B = game.R.shape[1], game.R.shape[2]
    tb, alpha = tables, walk.alpha[0]
    s = _start(game, walk, draws)
    for t in range(draws.shape[0]):
        a = _act(tb.pi1[s], schedule.explore, draws[t, 0], draws[t, 1])
        b = _act(tb.pi2[s], schedule.explore, draws[t, 2], draws[t, 3])
        r = game.R[s, a, b]
        s2, s_next = _next_state(game, s, a, b, draws[t, 4], draws[t, 5], walk)
        g = schedule.gamma
        tb.Q1[s, a, b] = (1.0 - alpha) * tb.Q1[s, a, b] + alpha * (r + g * tb.V1[s2])
        tb.Q2[s, b, a] = (1.0 - alpha) * tb.Q2[s, b, a] + alpha * (-r + g * tb.V2[s2])
        x, _, v, _ = simplex_game(tb.Q1[s], np.zeros(B, dtype=np.bool_))
        tb.pi1[s] = x
        tb.V1[s] = v
        x, _, v, _ = simplex_game(tb.Q2[s], np.zeros(A, dtype=np.bool_))
        tb.pi2[s] = x
        tb.V2[s] = v
        alpha *= schedule.decay
        s = s_next
    walk.position[0] = s
    walk.alpha[0] = alpha


@njit(cache=True)
def independent_q_kernel(game, schedule, draws, walk, tables):
    """Runs independent Q-learning for both players over ``draws``, in place."""
    A, B = game.R.shape[1], game.R.shape[2]
    Q1, Q2, alpha = tables.Q1, tables.Q2, walk.alpha[0]
    s = _start(game, walk, draws)
    for t in range(draws.shape[0]):
        explore = schedule.explore
        a = min(int(draws[t, 1] * A), A - 1) if draws[t, 0] < explore else np.argmax(Q1[s])
        b = min(int(draws[t, 3] * B), B - 1) if draws[t, 2] < explore else np.argmax(Q2[s])
        r = game.R[s, a, b]
        s2, s_next = _next_state(game, s, a, b, draws[t, 4], draws[t, 5], walk)
        Q1[s, a] += alpha * (r + schedule.gamma * Q1[s2].max() - Q1[s, a])
        Q2[s, b] += alpha * (-r + schedule.gamma * Q2[s2].max() - Q2[s, b])
        alpha *= schedule.decay
        s = s_next
    walk.position[0] = s
    walk.alpha[0] = alpha


def _inverse_cdf(p, u):
    """The outcome of the uniform ``u`` under probabilities ``p``: the first index whose
    cumulative probability exceeds ``u`` times the total."""
    cumulative = np.cumsum(p)
    return min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), p.size - 1)


def _uniform(n, u):
    return min(int(u * n), n - 1)


def _seat_views(game):
    """Each seat's game from its own side: rewards ``(S, own action, other's action)`` (player
    2 receives -R, transposed) and the dense transition tensor ``T[s, a, b, s']``."""
    S, A, B = game.R.shape
    rows = np.repeat(np.arange(S * A * B), np.diff(game.indptr))
    T = np.zeros((S * A * B, S))
    np.add.at(T, (rows, game.indices), game.probs)
    return (game.R, -game.R.transpose(0, 2, 1)), T.reshape(S, A, B, S)


def _walk_reference(game, schedule, draws, walk, act, learn):
    """The learning loop as the module docstring states it, seat by seat: each seat ``i``
    acts with ``act(i, s, u_explore, u_act)`` (columns 2i, 2i + 1 of a draw), the successor
    comes from the dense ``T[s, a, b]`` by column 4, each seat learns from its own reward with
    ``learn(i, s, own, other, reward, s2, alpha)``, the rate decays, and a terminal successor
    starts a new episode from the initial distribution (column 5, as does the first state)."""
    rewards, T = _seat_views(game)
    if walk.position[0] < 0:
        walk.position[0] = _inverse_cdf(game.initial, draws[0, 5])
    s, alpha = int(walk.position[0]), float(walk.alpha[0])
    for row in draws:
        joint = (act(0, s, row[0], row[1]), act(1, s, row[2], row[3]))
        s2 = _inverse_cdf(T[s, joint[0], joint[1]], row[4])
        for seat in (0, 1):
            own, other = joint[seat], joint[1 - seat]
            learn(seat, s, own, other, rewards[seat][s, own, other], s2, alpha)
        alpha *= schedule.decay
        if game.terminal[s2]:
            walk.position[1] += 1
            s2 = _inverse_cdf(game.initial, row[5])
        s = s2
    walk.position[0], walk.alpha[0] = s, alpha


def minimax_q_reference(game, schedule, draws, walk, tables):
    """Minimax-Q written from Littman's update, one seat at a time over dense arrays (an
    independent check of :func:`minimax_q_kernel`: same draws, same result); the stage game
    is solved by the solvers' NumPy simplex."""
    Q, V, pi = (tables.Q1, tables.Q2), (tables.V1, tables.V2), (tables.pi1, tables.pi2)

    def act(seat, s, u_explore, u_act):
        strategy = pi[seat][s]
        if u_explore < schedule.explore:
            return _uniform(strategy.size, u_act)
        return _inverse_cdf(strategy, u_act)

    def learn(seat, s, own, other, reward, s2, alpha):
        target = reward + schedule.gamma * V[seat][s2]
        Q[seat][s, own, other] = (1 - alpha) * Q[seat][s, own, other] + alpha * target
        pi[seat][s], _, V[seat][s], _ = simplex_game_reference(Q[seat][s])

    _walk_reference(game, schedule, draws, walk, act, learn)


def independent_q_reference(game, schedule, draws, walk, tables):
    """Watkins' Q-learning for each seat alone, over dense arrays (an independent check of
    :func:`independent_q_kernel`)."""
    Q = tuple(tables)

    def act(seat, s, u_explore, u_act):
        values = Q[seat][s]
        if u_explore < schedule.explore:
            return _uniform(values.size, u_act)
        return int(np.argmax(values))

    def learn(seat, s, own, other, reward, s2, alpha):
        target = reward + schedule.gamma * Q[seat][s2].max()
        Q[seat][s, own] += alpha * (target - Q[seat][s, own])

    _walk_reference(game, schedule, draws, walk, act, learn)


def new_walk(alpha: float) -> Walk:
    return Walk(np.array([-1, 1], dtype=np.int64), np.array([alpha], dtype=np.float64))


def run(kernel, game: GameArrays, schedule: Schedule, draws, walk: Walk, tables, label: str):
    """Feeds ``draws`` to ``kernel`` in chunks of ``CHUNK`` steps, with a progress bar."""
    with progress(label, total=len(draws)) as advance:
        for start in range(0, len(draws), CHUNK):
            kernel(game, schedule, draws[start : start + CHUNK], walk, tables)
            advance(min(CHUNK, len(draws) - start))
    return int(walk.position[1])


def _setup(
    game: Any,
    steps: int,
    gamma: float | None,
    alpha: float,
    final_alpha: float,
    explore: float,
    seed: int,
):
    tab = game.tabular(sparse=True) if hasattr(game, "tabular") else game
    if not all(hasattr(tab, k) for k in ("R", "T", "initial", "terminal", "gamma")):
        raise ValueError("game must have tabular() or be a Tabular export")
    R = np.ascontiguousarray(tab.R, dtype=np.float64)
    if R.ndim != 3:
        raise ValueError(f"minimax-Q and independent Q need a two-player game, R has {R.shape}")
    if hasattr(tab, "zero_sum") and not tab.zero_sum:
        raise ValueError("minimax-Q and independent Q here are for zero-sum games")
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    gamma = tab.gamma if gamma is None else gamma
    if not 0.0 < gamma < 1.0:
        raise ValueError(f"gamma must lie in (0, 1), got {gamma}")
    if not (0.0 < final_alpha <= alpha <= 1.0):
        raise ValueError(f"need 0 < final_alpha <= alpha <= 1, got {final_alpha}, {alpha}")
    if not 0.0 <= explore <= 1.0:
        raise ValueError(f"explore must lie in [0, 1], got {explore}")
    import scipy.sparse as sp

    T = (
        sp.csr_array(tab.T)
        if sp.issparse(tab.T)
        else sp.csr_array(np.asarray(tab.T).reshape(R.size, R.shape[0]))
    )
    decay = (final_alpha / alpha) ** (1.0 / steps)
    draws = np.random.default_rng(seed).random((int(steps), 6))
    game = GameArrays(
        R,
        T.indptr.astype(np.int64),
        T.indices.astype(np.int64),
        T.data.astype(np.float64),
        np.asarray(tab.initial, dtype=np.float64),
        np.asarray(tab.terminal, dtype=np.bool_),
    )
    return game, Schedule(float(gamma), float(decay), float(explore)), new_walk(alpha), draws


LEARNERS = {  # algorithm -> (its kernel, its tables, its progress label)
    "minimax_q": (minimax_q_kernel, MinimaxQTables, "minimax-Q"),
    "independent_q": (independent_q_kernel, QTables, "Q"),
}


def q_learning(
    game: Any,
    algorithm: str,
    *,
    steps: int = 100_000,
    gamma: float | None = None,
    alpha: float = 1.0,
    final_alpha: float = 0.01,
    explore: float = 0.2,
    seed: int = 0,
) -> QLearningRun:
    """Trains ``algorithm`` (a key of ``LEARNERS``) for both players of a zero-sum game (an env
    with ``tabular()`` or its export) for ``steps`` steps, the learning rate decaying from
    ``alpha`` to ``final_alpha``, each player exploring with probability ``explore``;
    ``gamma`` defaults to the game's."""
    if algorithm not in LEARNERS:
        raise ValueError(f"algorithm: unknown {algorithm!r}; known: {', '.join(LEARNERS)}")
    kernel, tables, label = LEARNERS[algorithm]
    arrays, schedule, walk, draws = _setup(game, steps, gamma, alpha, final_alpha, explore, seed)
    t = tables.start(*arrays.R.shape)
    episodes = run(kernel, arrays, schedule, draws, walk, t, label)
    return QLearningRun(*t.learned(), int(steps), episodes, algorithm)


def minimax_q(game: Any, **settings) -> QLearningRun:
    """Minimax-Q (Littman 1994) for both players; ``settings`` as :func:`q_learning`'s."""
    return q_learning(game, "minimax_q", **settings)


def independent_q(game: Any, **settings) -> QLearningRun:
    """Independent Q-learners for both players, with greedy policies; ``settings`` as
    :func:`q_learning`'s."""
    return q_learning(game, "independent_q", **settings)
