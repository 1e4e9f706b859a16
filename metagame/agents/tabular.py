"""Tabular learners for two-player zero-sum Markov games: minimax-Q and independent Q-learning.

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
``independent_q_reference`` are the pure-NumPy twins of the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from metagame.solvers._simplex import simplex_game, simplex_game_reference


@dataclass(frozen=True)
class TabularLearning:
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


@njit(cache=True)
def minimax_q_kernel(
    R,
    indptr,
    indices,
    data,
    initial,
    terminal,
    gamma,
    alpha,
    decay,
    explore,
    draws,
    Q1,
    Q2,
    pi1,
    pi2,
    V1,
    V2,
):
    """Runs minimax-Q for both players in place; returns the number of episodes."""
    S, A, B = R.shape
    s = _draw(initial, draws[0, 5])
    episodes = 1
    for t in range(draws.shape[0]):
        a = _act(pi1[s], explore, draws[t, 0], draws[t, 1])
        b = _act(pi2[s], explore, draws[t, 2], draws[t, 3])
        r = R[s, a, b]
        s2 = _successor(indptr, indices, data, (s * A + a) * B + b, draws[t, 4])
        Q1[s, a, b] = (1.0 - alpha) * Q1[s, a, b] + alpha * (r + gamma * V1[s2])
        Q2[s, b, a] = (1.0 - alpha) * Q2[s, b, a] + alpha * (-r + gamma * V2[s2])
        x, _, v, _ = simplex_game(Q1[s], np.zeros(B, dtype=np.bool_))
        pi1[s] = x
        V1[s] = v
        x, _, v, _ = simplex_game(Q2[s], np.zeros(A, dtype=np.bool_))
        pi2[s] = x
        V2[s] = v
        alpha *= decay
        if terminal[s2]:
            s2 = _draw(initial, draws[t, 5])
            episodes += 1
        s = s2
    return episodes


@njit(cache=True)
def independent_q_kernel(
    R, indptr, indices, data, initial, terminal, gamma, alpha, decay, explore, draws, Q1, Q2
):
    """Runs independent Q-learning for both players in place; returns the number of episodes."""
    S, A, B = R.shape
    s = _draw(initial, draws[0, 5])
    episodes = 1
    for t in range(draws.shape[0]):
        a = min(int(draws[t, 1] * A), A - 1) if draws[t, 0] < explore else np.argmax(Q1[s])
        b = min(int(draws[t, 3] * B), B - 1) if draws[t, 2] < explore else np.argmax(Q2[s])
        r = R[s, a, b]
        s2 = _successor(indptr, indices, data, (s * A + a) * B + b, draws[t, 4])
        Q1[s, a] += alpha * (r + gamma * Q1[s2].max() - Q1[s, a])
        Q2[s, b] += alpha * (-r + gamma * Q2[s2].max() - Q2[s, b])
        alpha *= decay
        if terminal[s2]:
            s2 = _draw(initial, draws[t, 5])
            episodes += 1
        s = s2
    return episodes


def minimax_q_reference(
    R,
    indptr,
    indices,
    data,
    initial,
    terminal,
    gamma,
    alpha,
    decay,
    explore,
    draws,
    Q1,
    Q2,
    pi1,
    pi2,
    V1,
    V2,
):
    """Pure-NumPy twin of :func:`minimax_q_kernel` (same draws, same updates)."""
    S, A, B = R.shape

    def draw(p, u):
        return min(int(np.searchsorted(np.cumsum(p), u * p.sum(), side="right")), p.size - 1)

    def act(pi, ue, ua):
        return min(int(ua * pi.size), pi.size - 1) if ue < explore else draw(pi, ua)

    s = draw(initial, draws[0, 5])
    episodes = 1
    for t in range(draws.shape[0]):
        a, b = act(pi1[s], *draws[t, 0:2]), act(pi2[s], *draws[t, 2:4])
        row = (s * A + a) * B + b
        lo, hi = indptr[row], indptr[row + 1]
        s2 = indices[lo + draw(data[lo:hi], draws[t, 4])]
        Q1[s, a, b] = (1 - alpha) * Q1[s, a, b] + alpha * (R[s, a, b] + gamma * V1[s2])
        Q2[s, b, a] = (1 - alpha) * Q2[s, b, a] + alpha * (-R[s, a, b] + gamma * V2[s2])
        pi1[s], _, V1[s], _ = simplex_game_reference(Q1[s])
        pi2[s], _, V2[s], _ = simplex_game_reference(Q2[s])
        alpha *= decay
        if terminal[s2]:
            s2 = draw(initial, draws[t, 5])
            episodes += 1
        s = s2
    return episodes


def independent_q_reference(
    R, indptr, indices, data, initial, terminal, gamma, alpha, decay, explore, draws, Q1, Q2
):
    """Pure-NumPy twin of :func:`independent_q_kernel`."""
    S, A, B = R.shape

    def draw(p, u):
        return min(int(np.searchsorted(np.cumsum(p), u * p.sum(), side="right")), p.size - 1)

    s = draw(initial, draws[0, 5])
    episodes = 1
    for t in range(draws.shape[0]):
        a = min(int(draws[t, 1] * A), A - 1) if draws[t, 0] < explore else int(np.argmax(Q1[s]))
        b = min(int(draws[t, 3] * B), B - 1) if draws[t, 2] < explore else int(np.argmax(Q2[s]))
        row = (s * A + a) * B + b
        lo, hi = indptr[row], indptr[row + 1]
        s2 = indices[lo + draw(data[lo:hi], draws[t, 4])]
        Q1[s, a] += alpha * (R[s, a, b] + gamma * Q1[s2].max() - Q1[s, a])
        Q2[s, b] += alpha * (-R[s, a, b] + gamma * Q2[s2].max() - Q2[s, b])
        alpha *= decay
        if terminal[s2]:
            s2 = draw(initial, draws[t, 5])
            episodes += 1
        s = s2
    return episodes


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
    arrays = (
        R,
        T.indptr.astype(np.int64),
        T.indices.astype(np.int64),
        T.data,
        np.asarray(tab.initial, dtype=np.float64),
        np.asarray(tab.terminal, dtype=np.bool_),
    )
    return arrays, float(gamma), float(alpha), float(decay), float(explore), draws


def minimax_q(
    game: Any,
    steps: int = 100_000,
    gamma: float | None = None,
    alpha: float = 1.0,
    final_alpha: float = 0.01,
    explore: float = 0.2,
    seed: int = 0,
) -> TabularLearning:
    """Trains minimax-Q for both players of a zero-sum game (an env with ``tabular()`` or its
    export) for ``steps`` steps; ``gamma`` defaults to the game's."""
    arrays, gamma, alpha, decay, explore, draws = _setup(
        game, steps, gamma, alpha, final_alpha, explore, seed
    )
    S, A, B = arrays[0].shape
    Q1, Q2 = np.zeros((S, A, B)), np.zeros((S, B, A))
    pi1, pi2 = np.full((S, A), 1.0 / A), np.full((S, B), 1.0 / B)
    V1, V2 = np.zeros(S), np.zeros(S)
    episodes = minimax_q_kernel(
        *arrays, gamma, alpha, decay, explore, draws, Q1, Q2, pi1, pi2, V1, V2
    )
    return TabularLearning((pi1, pi2), (Q1, Q2), (V1, V2), int(steps), int(episodes), "minimax_q")


def independent_q(
    game: Any,
    steps: int = 100_000,
    gamma: float | None = None,
    alpha: float = 1.0,
    final_alpha: float = 0.01,
    explore: float = 0.2,
    seed: int = 0,
) -> TabularLearning:
    """Trains independent Q-learners for both players; the returned policies are greedy."""
    arrays, gamma, alpha, decay, explore, draws = _setup(
        game, steps, gamma, alpha, final_alpha, explore, seed
    )
    S, A, B = arrays[0].shape
    Q1, Q2 = np.zeros((S, A)), np.zeros((S, B))
    episodes = independent_q_kernel(*arrays, gamma, alpha, decay, explore, draws, Q1, Q2)
    pi1, pi2 = np.eye(A)[Q1.argmax(1)], np.eye(B)[Q2.argmax(1)]
    return TabularLearning(
        (pi1, pi2), (Q1, Q2), (Q1.max(1), Q2.max(1)), int(steps), int(episodes), "independent_q"
    )
