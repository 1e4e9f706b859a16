"""Exact payoffs and exploitability of many policies at once in a small two-player OpenSpiel game.

With perfect recall, the probability that a terminal history ``z`` is reached factorises into
chance's probability ``c(z)`` and one factor per player, the product of that player's own action
probabilities along ``z`` (its realisation plan, von Stengel 1996, "Efficient computation of
behavior strategies"). Walking the tree once gives, for every terminal, the (information state,
action) pairs of each player along it; then for ``K`` tabular policies ``probs (K, I, A)``

- ``R_p[k, z]`` = product of ``probs[k, I, a]`` over player ``p``'s pairs on ``z`` (one gather
  and a product), and
- the expected return of player 0 when policy ``k`` plays seat 0 against policy ``l`` in seat 1
  is ``V0[k, l] = sum_z c(z) u_0(z) R_0[k, z] R_1[l, z]``: one matrix product for all ``K^2``
  pairs.

A mixture of policies (a mixed strategy) becomes one behavioural policy by Kuhn's theorem,
weighting each member's action probabilities at ``I`` by its weight times its own reach of ``I``;
its exploitability is OpenSpiel's exact best-response computation on that ``TabularPolicy``.

Policies are tables over the game's information states, in :attr:`SequenceForm.observations`
order: the encoded observation (bridge tensor + legal-action mask, as
:class:`metagame.agents.rllib.encoding.ObservationCodec` encodes it and RLlib modules see it) of
each information state, so a network's table is one batched forward pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from metagame.agents.rllib.encoding import ObservationCodec


class SequenceForm:
    """The information states and terminal histories of a two-player zero-sum sequential
    OpenSpiel game, as seen through its PettingZoo bridge (``OpenSpielAECEnv``)."""

    def __init__(self, bridge: Any):
        import pyspiel

        game = bridge.game
        info = game.get_type()
        if game.num_players() != 2 or info.utility != pyspiel.GameType.Utility.ZERO_SUM:
            raise ValueError(f"{info.short_name}: sequence form needs a two-player zero-sum game")
        if info.dynamics != pyspiel.GameType.Dynamics.SEQUENTIAL:
            raise ValueError(f"{info.short_name}: sequence form needs a sequential game")
        self.game = game
        self.num_actions = game.num_distinct_actions()
        codec = ObservationCodec(bridge.observation_space(bridge.possible_agents[0]))
        self.keys: list[tuple[int, str]] = []  # (player, information state string)
        self.player: list[int] = []
        index: dict[tuple[int, str], int] = {}
        rows: list[np.ndarray] = []
        own_paths: list[list[int]] = []  # per information state: its player's earlier pairs
        chance: list[float] = []
        utility: list[float] = []
        paths: tuple[list[list[int]], list[list[int]]] = ([], [])
        stack: list[tuple[Any, float, tuple[list[int], list[int]]]] = [
            (game.new_initial_state(), 1.0, ([], []))
        ]
        while stack:
            state, p_chance, path = stack.pop()
            if state.is_terminal():
                chance.append(p_chance)
                utility.append(state.returns()[0])
                paths[0].append(path[0])
                paths[1].append(path[1])
                continue
            if state.is_chance_node():
                for action, prob in state.chance_outcomes():
                    stack.append((state.child(action), p_chance * prob, path))
                continue
            player = state.current_player()
            key = (player, state.information_state_string(player))
            if key not in index:
                index[key] = len(self.keys)
                self.keys.append(key)
                self.player.append(player)
                rows.append(codec.encode(bridge.observation_at(state, player)))
                own_paths.append(path[player])
            i = index[key]
            for action in state.legal_actions():
                pair = i * self.num_actions + action
                extended = (
                    (path[0] + [pair], path[1]) if player == 0 else (path[0], path[1] + [pair])
                )
                stack.append((state.child(action), p_chance, extended))
        self.index = index
        self.observations = np.asarray(rows, dtype=np.float32)
        self.legal = self.observations[:, -self.num_actions :] > 0
        self.num_states = len(self.keys)
        one = self.num_states * self.num_actions  # the padding pair: probability 1
        self.weighted_utility = np.asarray(chance) * np.asarray(utility)  # c(z) u_0(z)
        self.terminal_pairs = [_padded(paths[p], one) for p in (0, 1)]
        self.state_pairs = _padded(own_paths, one)
        self._template = None  # an OpenSpiel TabularPolicy to write tables into (exploitability)

    def uniform(self) -> np.ndarray:
        """The uniform-random policy's table ``(I, A)``."""
        return self.legal / self.legal.sum(axis=1, keepdims=True)

    def _flat(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 3 or probs.shape[1:] != (self.num_states, self.num_actions):
            raise ValueError(
                f"probs: expected shape (K, {self.num_states}, {self.num_actions}), "
                f"got {probs.shape}"
            )
        flat = probs.reshape(len(probs), -1)
        return np.concatenate([flat, np.ones((len(probs), 1))], axis=1)

    def payoffs(self, probs: np.ndarray) -> np.ndarray:
        """``(K, K)``: player 0's exact expected return with policy ``k`` in seat 0 and ``l`` in
        seat 1."""
        flat = self._flat(probs)
        reach = [flat[:, pairs].prod(axis=-1) for pairs in self.terminal_pairs]  # (K, Z) each
        return (reach[0] * self.weighted_utility) @ reach[1].T

    def symmetric_payoffs(self, probs: np.ndarray) -> np.ndarray:
        """``(K, K)``: policy ``k``'s exact expected return against ``l``, averaged over the two
        seatings (the game with tied seats; antisymmetric)."""
        v = self.payoffs(probs)
        return 0.5 * (v - v.T)

    def mixture(self, probs: np.ndarray, weights: Any) -> np.ndarray:
        """The behavioural table ``(I, A)`` of the mixed strategy ``weights`` over the ``K``
        policies (each playing both seats), by Kuhn's theorem; uniform where no member reaches."""
        flat = self._flat(probs)
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(flat),) or np.any(w < 0) or not np.isclose(w.sum(), 1.0):
            raise ValueError(f"weights: expected a distribution over {len(flat)} policies")
        reach = flat[:, self.state_pairs].prod(axis=-1)  # (K, I): own reach of each state
        weight = w[:, None] * reach
        num = np.einsum("ki,kia->ia", weight, np.asarray(probs, dtype=np.float64))
        den = weight.sum(axis=0)[:, None]
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), self.uniform())

    def policy_table(self, policy: Any) -> np.ndarray:
        """``(I, A)``: the action probabilities a metagame policy over an RLlib module (e.g.
        :class:`metagame.agents.policy.RLModulePolicy`) plays at every information state, from
        one batched forward pass (its masked softmax, as
        :func:`metagame.league.exploitability.action_probabilities` gives one at a time)."""
        import torch

        from metagame.agents.policy import softmax_distribution

        if not hasattr(policy, "module"):
            raise ValueError(f"{type(policy).__name__}: a table needs a policy over an RLModule")
        with torch.no_grad():
            out = policy.module.forward_inference({"obs": torch.from_numpy(self.observations)})
        return softmax_distribution(out, self.legal)

    def tabular_policy(self, table: np.ndarray):
        """An OpenSpiel ``TabularPolicy`` playing ``table (I, A)``."""
        from open_spiel.python import policy as os_policy

        policy = os_policy.TabularPolicy(self.game)
        for (_, key), row in zip(self.keys, table, strict=True):
            policy.action_probability_array[policy.state_lookup[key]] = row
        return policy

    def exploitability(self, table: np.ndarray) -> float:
        """OpenSpiel's exact exploitability (mean best-response gain) of ``table (I, A)``, by
        its C++ best response (on Leduc poker half the time of the Python one, the same value)."""
        import pyspiel
        from open_spiel.python import policy as os_policy

        if self._template is None:
            self._template = os_policy.TabularPolicy(self.game)
            self._rows = [self._template.state_lookup[key] for _, key in self.keys]
        self._template.action_probability_array[self._rows] = table
        policy = os_policy.python_policy_to_pyspiel_policy(self._template)  # copies the table
        return float(pyspiel.exploitability(self.game, policy))


def _padded(paths: list[list[int]], pad: int) -> np.ndarray:
    """Ragged index lists as one ``(len, longest)`` array, padded with ``pad``."""
    longest = max((len(p) for p in paths), default=0)
    out = np.full((len(paths), max(longest, 1)), pad, dtype=np.int64)
    for k, p in enumerate(paths):
        out[k, : len(p)] = p
    return out
