"""N-player normal-form games: payoff tensors, deviation values, NashConv and exploitability.

A game with N players where player i has A_i actions is a payoff tensor ``U`` of shape
(N, A_1, ..., A_N): ``U[i, a_1, ..., a_N]`` is player i's payoff at the pure profile
(a_1, ..., a_N). A mixed profile is one probability vector per player.

For a mixed profile sigma, player i's *deviation values* are the payoffs of each of its pure
actions against the others' mixtures, ``v_i(a) = E_{a_-i ~ sigma_-i} U_i(a, a_-i)``; its current
value is ``sigma_i . v_i`` and its best-response value is ``max_a v_i(a)``. Then

    NashConv(sigma)      = sum_i (max_a v_i(a) - sigma_i . v_i)
    exploitability(sigma) = NashConv(sigma) / N

which is OpenSpiel's convention (Lanctot et al. 2017, "A Unified Game-Theoretic Approach to
Multiagent Reinforcement Learning"; ``open_spiel.python.algorithms.exploitability``). A profile
is a Nash equilibrium (Nash 1950) exactly when its NashConv is zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from metagame._arrays import as_array, as_strategy


def as_payoff_tensor(payoffs: Any, name: str = "payoffs") -> np.ndarray:
    """The (N, A_1, ..., A_N) float64 payoff tensor of a normal-form game.

    Accepts that tensor itself, or a list/tuple of N per-player arrays of shape (A_1, ..., A_N)
    (for two players, ``(A, B)`` with the row player's and column player's matrices).
    """
    if isinstance(payoffs, list | tuple):
        if len(payoffs) == 0:
            raise ValueError(f"{name} is empty: expected one payoff array per player")
        tables = [as_array(p, f"{name}[{i}]") for i, p in enumerate(payoffs)]
        shapes = {t.shape for t in tables}
        if len(shapes) != 1:
            raise ValueError(f"{name}: the players' payoff arrays differ in shape {sorted(shapes)}")
        tensor = np.stack(tables)
    else:
        tensor = as_array(payoffs, name)
    n_players = tensor.shape[0] if tensor.ndim else 0
    if tensor.ndim < 2 or tensor.ndim != n_players + 1:
        raise ValueError(
            f"{name} has shape {tensor.shape}; expected (N, A_1, ..., A_N) with one payoff "
            f"array per player (N = ndim - 1), or a list of N arrays; for a zero-sum matrix "
            f"game A pass (A, -A)"
        )
    return tensor


def as_profile(strategies: Any, shape: Sequence[int], name: str = "strategies") -> list:
    """One probability vector per player, of lengths ``shape`` (the numbers of actions)."""
    if not isinstance(strategies, list | tuple) or len(strategies) != len(shape):
        raise ValueError(
            f"{name} must be a list of {len(shape)} probability vectors, one per player"
        )
    return [as_strategy(s, n, f"{name}[{i}]") for i, (s, n) in enumerate(zip(strategies, shape))]


def deviation_values(tensor: np.ndarray, strategies: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per player i, the payoff of each pure action of i against the others' mixtures.

    ``tensor`` is a validated (N, A_1, ..., A_N) payoff tensor and ``strategies`` a validated
    profile. Cost O(N * prod A_i).
    """
    values = []
    for i in range(tensor.shape[0]):
        u = tensor[i]
        for j in reversed(range(len(strategies))):  # contract from the last axis down
            if j != i:
                u = np.tensordot(u, strategies[j], axes=([j], [0]))
        values.append(u)
    return values


def expected_payoffs(payoffs: Any, strategies: Any) -> np.ndarray:
    """The (N,) expected payoffs of a mixed profile."""
    tensor = as_payoff_tensor(payoffs)
    profile = as_profile(strategies, tensor.shape[1:])
    return np.array([s @ v for s, v in zip(profile, deviation_values(tensor, profile))])


def best_response_values(payoffs: Any, strategies: Any) -> np.ndarray:
    """The (N,) best-response values: each player's best pure payoff against the others."""
    tensor = as_payoff_tensor(payoffs)
    profile = as_profile(strategies, tensor.shape[1:])
    return np.array([v.max() for v in deviation_values(tensor, profile)])


def deviation_gains(payoffs: Any, strategies: Any) -> np.ndarray:
    """The (N,) gains ``max_a v_i(a) - sigma_i . v_i >= 0`` of each player's best deviation."""
    tensor = as_payoff_tensor(payoffs)
    profile = as_profile(strategies, tensor.shape[1:])
    return profile_gains(tensor, profile)


def profile_gains(tensor: np.ndarray, profile: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`deviation_gains` on an already validated tensor and profile (no checks)."""
    values = deviation_values(tensor, profile)
    return np.array([max(v.max() - s @ v, 0.0) for s, v in zip(profile, values)])


def nash_conv(payoffs: Any, strategies: Any) -> float:
    """Sum over players of (best-response value - current value); zero at a Nash equilibrium.

    ``payoffs`` is an (N, A_1, ..., A_N) tensor or a list of N per-player arrays (``(A, B)`` for
    a bimatrix game); ``strategies`` is a list of N probability vectors.
    """
    return float(deviation_gains(payoffs, strategies).sum())


def exploitability(payoffs: Any, strategies: Any) -> float:
    """NashConv divided by the number of players (OpenSpiel's convention).

    For a two-player zero-sum game (A, -A) this is half the duality gap
    ``max(A y) - min(x^T A)``.
    """
    tensor = as_payoff_tensor(payoffs)
    return nash_conv(tensor, strategies) / tensor.shape[0]
