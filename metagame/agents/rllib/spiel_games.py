"""Many plays of one turn-based OpenSpiel game, held as bare pyspiel states side by side.

:class:`SpielGames` is what :class:`metagame.agents.rllib.vector_env_runner.VectorEnvRunner`
steps instead of a vector of RLlib env adapters. It shows every agent exactly what the adapter
stack (:class:`metagame.agents.rllib.env.MultiAgentAdapter` over
:class:`metagame.envs.openspiel.OpenSpielAECEnv`) shows it, without the PettingZoo and dict
bookkeeping around each step:

- an observation is the tensor the env observes the player by (OpenSpiel's information-state
  or observation tensor, :func:`metagame.envs.openspiel.tensor_source`) followed by the
  legal-action mask, as
  :class:`metagame.agents.rllib.encoding.ObservationCodec` encodes it (an all-zero mask, at
  terminal states, becomes all ones); a batch of observations is built as one array;
- a reward is the change of ``state.returns()`` over a move and the chance outcomes after it,
  so rewards add up exactly to OpenSpiel's returns;
- chance outcomes are drawn from a NumPy generator with OpenSpiel's probabilities, by inverting
  the cumulative distribution at a uniform draw.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyspiel

from metagame.agents.rllib.encoding import MASK_KEY, OBS_KEY, ObservationCodec
from metagame.envs.openspiel import OpenSpielAECEnv, tensor_source


class SpielGames:
    """``num_games`` plays of one turn-based OpenSpiel game; slot ``i`` holds one play."""

    def __init__(
        self, game: pyspiel.Game, codec: ObservationCodec, num_games: int, observation: str = "auto"
    ):
        source, _ = tensor_source(game, observation)
        if source == "history":
            raise ValueError(
                f"{game.get_type().short_name}: the vectorised runner needs a game with "
                "observation or information-state tensors"
            )
        self.game = game
        self.codec = codec
        self.num_players = game.num_players()
        self.num_actions = game.num_distinct_actions()
        self._information_state = source == "information_state"
        self.states: list[Any] = [None] * num_games
        self._returns = np.zeros((num_games, self.num_players))
        self._paid = [False] * num_games  # whether a slot's last returns were not all zero
        self.no_reward = np.zeros(self.num_players)
        """What :meth:`act` returns (this very array) for a move without reward."""

    @classmethod
    def from_env(cls, env: Any, num_games: int) -> SpielGames:
        """The games behind an RLlib adapter (or a bare env) of a turn-based OpenSpiel game;
        ValueError for any other env."""
        inner = getattr(env, "env", env)
        if not isinstance(inner, OpenSpielAECEnv):
            raise ValueError(
                f"the vectorised runner steps turn-based OpenSpiel games only "
                f"(make('openspiel:<game>')), got {type(inner).__name__}"
            )
        codec = ObservationCodec(inner.observation_space(inner.possible_agents[0]))
        return cls(inner.game, codec, num_games, inner.tensor_source)

    def start(self, i: int, rng: np.random.Generator) -> None:
        """A new play in slot ``i``, past its opening chance nodes."""
        self.states[i] = self.game.new_initial_state()
        self._returns[i] = 0.0
        self._paid[i] = False
        self._chance(self.states[i], rng)

    @staticmethod
    def _chance(state: Any, rng: np.random.Generator) -> None:
        while state.is_chance_node():
            state.apply_action(draw(state.chance_outcomes(), rng.random()))

    def current_player(self, i: int) -> int:
        return self.states[i].current_player()

    def is_terminal(self, i: int) -> bool:
        return self.states[i].is_terminal()

    def act(self, i: int, action: int, rng: np.random.Generator) -> np.ndarray:
        """Plays ``action`` in slot ``i`` (then chance); every player's reward for it
        (:attr:`no_reward` itself when there is none)."""
        state = self.states[i]
        state.apply_action(action)
        self._chance(state, rng)
        returns = state.returns()
        if not self._paid[i] and not any(returns):  # no reward yet: most moves
            return self.no_reward
        returns = np.asarray(returns, dtype=np.float64)
        rewards = returns - self._returns[i]
        self._returns[i] = returns
        self._paid[i] = bool(returns.any())
        return rewards

    def observe(self, slots: list[int], players: list[int]) -> Any:
        """The encoded observation of ``players[k]`` in ``slots[k]``, for every k: rows of one
        array (flat observations), or a list of dicts (grid observations)."""
        n = len(slots)
        tensors, legal = [], []
        for i, p in zip(slots, players, strict=True):
            state = self.states[i]
            if self._information_state:
                tensors.append(state.information_state_tensor(p))
            else:
                tensors.append(state.observation_tensor(p))
            legal.append(() if state.is_terminal() else state.legal_actions(p))
        masks = np.zeros((n, self.num_actions), dtype=np.float32)
        rows = np.repeat(np.arange(n), [len(actions) for actions in legal])
        masks[rows, np.fromiter(itertools.chain.from_iterable(legal), np.int64, len(rows))] = 1.0
        masks[~masks.any(axis=1)] = 1.0
        features = np.asarray(tensors, dtype=np.float32)
        codec = self.codec
        if codec.grid:
            raw = features.reshape(n, *codec.raw_space[OBS_KEY].shape)
            return [codec.encode({OBS_KEY: o, MASK_KEY: m}) for o, m in zip(raw, masks)]
        return np.concatenate([features.reshape(n, -1), masks], axis=1)


def draw(outcomes: list[tuple[int, float]], uniform: float) -> int:
    """The outcome a uniform draw in [0, 1) picks from (outcome, probability) pairs: the first
    whose cumulative probability exceeds ``uniform`` times the total (the last one if rounding
    leaves none), as ``np.searchsorted(np.cumsum(p), u * total, side="right")`` picks it."""
    total = 0.0
    cumulative = []
    for _, p in outcomes:
        total += p
        cumulative.append(total)
    target = uniform * total
    for (outcome, _), c in zip(outcomes, cumulative, strict=True):
        if c > target:
            return outcome
    return outcomes[-1][0]
