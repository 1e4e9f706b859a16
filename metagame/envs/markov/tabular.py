"""Any Markov game given as arrays, as a PettingZoo Parallel env; and random games.

``TabularMarkovGame(R=R, T=T)`` plays the two-player zero-sum game with player 0's rewards
``R[s, a, b]`` and transitions ``T[s, a, b, s']``; ``rewards=[R_1, ..., R_N]`` (shape
``(N, S, A_1, ..., A_N)``) gives a general-sum N-player game. ``T`` may also be a scipy sparse
matrix of shape ``(S * A_1 * ... * A_N, S)``, which is what ``tabular(sparse=True)`` exports, so
``TabularMarkovGame.from_tabular(env.tabular())`` rebuilds any game.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from metagame.envs.markov.base import MarkovGameEnv, Tabular, transition_matrix


def _finite(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array ({err})") from None
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


class TabularMarkovGame(MarkovGameEnv):
    """A Markov game from arrays (see the module docstring).

    Args:
        R: player 0's rewards ``(S, A, B)`` of a two-player zero-sum game, or
        rewards: every player's rewards ``(N, S, A_1, ..., A_N)``.
        T: transitions ``(S, A_1, ..., A_N, S)`` or sparse ``(S * prod(A), S)``.
        initial: initial distribution (default: state 0). terminal: boolean mask of absorbing
            terminal states (default: none). observations: ``(S, d)`` (default: the state id).
        gamma: discount exported for solvers. horizon: truncation for play (None: none).
    """

    def __init__(
        self,
        R: Any = None,
        T: Any = None,
        rewards: Any = None,
        initial: Any = None,
        terminal: Any = None,
        observations: Any = None,
        gamma: float = 0.9,
        horizon: int | None = 100,
        render_mode: str | None = None,
    ):
        if (R is None) == (rewards is None):
            raise ValueError("give exactly one of R (two-player zero-sum) and rewards")
        if T is None:
            raise ValueError("T (transitions) is required")
        if rewards is None:
            R = _finite(R, "R")
            if R.ndim != 3:
                raise ValueError(f"R must have shape (S, A, B), got {R.shape}")
            rewards = np.stack([R, -R])
        rewards = _finite(rewards, "rewards")
        if rewards.ndim < 3 or rewards.shape[0] != rewards.ndim - 2:
            raise ValueError(f"rewards must have shape (N, S, A_1, ..., A_N), got {rewards.shape}")
        S, shape = rewards.shape[1], rewards.shape[2:]
        rows = S * int(np.prod(shape))
        if sp.issparse(T):
            T = sp.csr_array(T, dtype=np.float64)
            if T.shape != (rows, S):
                raise ValueError(f"sparse T must have shape {(rows, S)}, got {T.shape}")
            if not np.isfinite(T.data).all() or (T.data < 0).any():
                raise ValueError("T has negative, NaN or inf entries")
        else:
            T = _finite(T, "T")
            if T.shape != (S, *shape, S):
                raise ValueError(f"T must have shape {(S, *shape, S)}, got {T.shape}")
            if (T < 0).any():
                raise ValueError("T has negative entries")
            T = sp.csr_array(T.reshape(rows, S))
        sums = np.asarray(T.sum(axis=1)).ravel()
        if not np.allclose(sums, 1.0, atol=1e-9):
            bad = int(np.argmax(np.abs(sums - 1.0)))
            s, j = divmod(bad, rows // S)
            a = np.unravel_index(j, shape)
            raise ValueError(f"T[{s}, {', '.join(map(str, a))}, :] sums to {sums[bad]:.6g}, not 1")
        initial = (
            np.bincount([0], minlength=S).astype(np.float64)
            if initial is None
            else _finite(initial, "initial")
        )
        if initial.shape != (S,) or (initial < 0).any() or not np.isclose(initial.sum(), 1.0):
            raise ValueError(f"initial must be a probability vector of length {S}")
        terminal = np.zeros(S, bool) if terminal is None else np.asarray(terminal, dtype=bool)
        if terminal.shape != (S,):
            raise ValueError(f"terminal must be a boolean mask of length {S}")
        obs = (
            np.arange(S, dtype=np.float64)[:, None]
            if observations is None
            else _finite(observations, "observations").reshape(S, -1)
        )
        if len(np.unique(obs, axis=0)) != S:
            raise ValueError("observations must differ between states")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        self._set_model(
            [f"player_{i}" for i in range(rewards.shape[0])],
            rewards,
            T,
            initial,
            terminal,
            obs,
            gamma=gamma,
            max_steps=horizon,
            render_mode=render_mode,
        )

    @classmethod
    def from_tabular(cls, tab: Tabular, **kwargs: Any) -> TabularMarkovGame:
        """The game a :class:`Tabular` export describes (a reward that depends on the drawn
        successor, as in soccer, becomes its expectation ``rewards[i, s, a]``)."""
        return cls(
            rewards=tab.rewards,
            T=tab.T,
            initial=tab.initial,
            terminal=tab.terminal,
            observations=tab.observations,
            gamma=tab.gamma,
            **kwargs,
        )


def random_game(
    num_states: int,
    num_actions: tuple[int, ...] = (3, 3),
    num_successors: int = 3,
    gamma: float = 0.9,
    zero_sum: bool = True,
    seed: int = 0,
    horizon: int | None = 100,
) -> TabularMarkovGame:
    """A random game: rewards uniform in [-1, 1], each ``(s, a)`` leading to ``num_successors``
    uniformly drawn states with Dirichlet(1) probabilities. Zero-sum games have two players;
    ``horizon`` truncates play."""
    if num_states < 1 or num_successors < 1 or min(num_actions) < 1:
        raise ValueError("num_states, num_actions and num_successors must be positive")
    if zero_sum and len(num_actions) != 2:
        raise ValueError("a zero-sum random game has two players")
    rng = np.random.default_rng(seed)
    shape = (num_states, *num_actions)
    rows = int(np.prod(shape))
    succ = rng.integers(0, num_states, size=(rows, num_successors))
    probs = rng.dirichlet(np.ones(num_successors), size=rows)
    T = transition_matrix(succ, probs, num_states)
    if zero_sum:
        return TabularMarkovGame(R=rng.uniform(-1, 1, shape), T=T, gamma=gamma, horizon=horizon)
    rewards = rng.uniform(-1, 1, (len(num_actions), *shape))
    return TabularMarkovGame(rewards=rewards, T=T, gamma=gamma, horizon=horizon)
