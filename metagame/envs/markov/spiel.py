"""Our Markov games as OpenSpiel Python games, so OpenSpiel's algorithms run on them.

Importing this module registers, with ``pyspiel.register_game``:

- ``metagame_matrix(game="rps", rounds=1)``: a catalog matrix game, one-shot or repeated;
- ``metagame_soccer(horizon=100)``: Littman's soccer;
- ``metagame_pursuit_evasion(graph="grid:3x3", num_pursuers=1, horizon=50)``;
- ``metagame_tabular(num_states=10, num_actions=3, num_successors=3, seed=0)``: a random
  two-player zero-sum game (``metagame.envs.markov.tabular.random_game``).

Each also takes ``discount`` (default 1): below one, every step is followed by a chance
outcome that ends the game with probability ``1 - discount``, so OpenSpiel's undiscounted
returns equal the discounted returns of the Markov game in expectation and OpenSpiel's
``value_iteration`` computes the discounted value our solvers compute. ``spiel_game(env)``
does the same for any :class:`MarkovGameEnv` instance (e.g. a ``TabularMarkovGame``).

The games are simultaneous-move with explicit chance (the initial-state distribution and the
successor distribution of a stochastic step are chance nodes). ``str(state)`` names the Markov
state (not the step count), as OpenSpiel's ``value_iteration(..., cyclic_game=True)`` needs;
observation tensors are the env's observation vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyspiel

from metagame.envs.markov.base import MarkovGameEnv


class MarkovSpielGame(pyspiel.Game):
    """A pyspiel game over the tabular model of a :class:`MarkovGameEnv`."""

    def __init__(self, env: MarkovGameEnv, params: dict[str, Any], short_name: str):
        discount = float(params.get("discount", 1.0))
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must lie in (0, 1], got {discount}")
        horizon = env.max_steps or int(params.get("horizon", 1000))
        tab = env.tabular(sparse=True)
        self.env, self.tab, self.discount = env, tab, discount
        self.shape = tab.num_actions
        self.masks = env._masks
        n = len(self.shape)
        zero_sum = tab.zero_sum and n == 2
        low = min(0.0, float(tab.rewards.min())) * horizon
        high = max(0.0, float(tab.rewards.max())) * horizon
        game_type = pyspiel.GameType(
            short_name=short_name,
            long_name=f"metagame {type(env).__name__}",
            dynamics=pyspiel.GameType.Dynamics.SIMULTANEOUS,
            chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
            information=pyspiel.GameType.Information.PERFECT_INFORMATION,
            utility=pyspiel.GameType.Utility.ZERO_SUM
            if zero_sum
            else pyspiel.GameType.Utility.GENERAL_SUM,
            reward_model=pyspiel.GameType.RewardModel.REWARDS,
            max_num_players=n,
            min_num_players=n,
            provides_information_state_string=False,
            provides_information_state_tensor=False,
            provides_observation_string=True,
            provides_observation_tensor=True,
            parameter_specification=params,
        )
        super().__init__(
            game_type,
            pyspiel.GameInfo(
                num_distinct_actions=max(self.shape),
                max_chance_outcomes=tab.num_states + 1,
                num_players=n,
                min_utility=low,
                max_utility=high,
                utility_sum=0.0 if zero_sum else None,
                max_game_length=horizon,
            ),
            params,
        )

    def new_initial_state(self) -> MarkovSpielState:
        return MarkovSpielState(self)

    def make_py_observer(self, iig_obs_type=None, params=None) -> MarkovObserver:
        return MarkovObserver(self.tab.observations.shape[1])


class MarkovSpielState(pyspiel.State):
    """Markov state ``s`` (or a chance node over successors), with per-step rewards."""

    def __init__(self, game: MarkovSpielGame):
        super().__init__(game)
        n = len(game.shape)
        self._s = -1
        self._t = 0
        self._joint: tuple[int, ...] | None = None
        self._outcomes = _support(game.tab.initial)
        self._over = False
        self._rewards = np.zeros(n)
        self._returns = np.zeros(n)
        if len(self._outcomes) == 1:
            self._enter(self._outcomes[0][0])

    @property
    def _game(self) -> MarkovSpielGame:
        # not kept in __dict__: OpenSpiel clones a Python state by copying its __dict__
        return self.get_game()

    def _enter(self, s: int) -> None:
        self._s, self._outcomes = s, None
        if self._game.tab.terminal[s] or self._t >= self._game.max_game_length():
            self._over = True

    def current_player(self) -> int:
        if self._over:
            return pyspiel.PlayerId.TERMINAL
        if self._outcomes is not None:
            return pyspiel.PlayerId.CHANCE
        return pyspiel.PlayerId.SIMULTANEOUS

    def _legal_actions(self, player: int) -> list[int]:
        if self._game.masks is None:
            return list(range(self._game.shape[player]))
        return np.flatnonzero(self._game.masks[player][self._s]).tolist()

    def chance_outcomes(self) -> list[tuple[int, float]]:
        return list(self._outcomes)

    def _apply_action(self, action: int) -> None:
        self._rewards = np.zeros_like(self._rewards)
        if action == self._game.tab.num_states:  # discount-as-termination outcome
            self._over, self._outcomes = True, None
        else:
            self._enter(int(action))

    def _apply_actions(self, actions: list[int]) -> None:
        game = self._game
        joint = tuple(int(a) for a in actions)
        row = self._s * int(np.prod(game.shape)) + int(np.ravel_multi_index(joint, game.shape))
        T = game.tab.T
        lo, hi = T.indptr[row], T.indptr[row + 1]
        outcomes = [
            (int(s), float(p) * game.discount) for s, p in zip(T.indices[lo:hi], T.data[lo:hi])
        ]
        if game.discount < 1.0:
            outcomes.append((game.tab.num_states, 1.0 - game.discount))
        self._rewards = game.tab.rewards[(slice(None), self._s, *joint)].copy()
        self._returns += self._rewards
        self._t += 1
        self._joint = joint
        if len(outcomes) == 1:
            self._enter(outcomes[0][0])
        else:
            self._outcomes = outcomes

    def _action_to_string(self, player: int, action: int) -> str:
        if player == pyspiel.PlayerId.CHANCE:
            return "stop" if action == self._game.tab.num_states else f"state {action}"
        return f"p{player}:{action}"

    def is_terminal(self) -> bool:
        return self._over

    def rewards(self) -> np.ndarray:
        return self._rewards

    def returns(self) -> np.ndarray:
        return self._returns

    def __str__(self) -> str:
        if self._s < 0:
            return "start"
        if self._outcomes is not None:
            return f"state {self._s} after {self._joint}"
        if self._over and not self._game.tab.terminal[self._s]:
            # the returns name the state: value_iteration scores a terminal by its returns
            return f"stopped with returns {self._returns.tolist()}"
        return f"state {self._s} {self._game.tab.observations[self._s].tolist()}"


class MarkovObserver:
    """Observation tensor: the env's observation vector of the current state (zeros at
    chance nodes before the start and after a discount stop)."""

    def __init__(self, size: int):
        self.tensor = np.zeros(size, np.float32)
        self.dict = {"observation": self.tensor}

    def set_from(self, state: MarkovSpielState, player: int) -> None:
        self.tensor[:] = state._game.tab.observations[state._s] if state._s >= 0 else 0.0

    def string_from(self, state: MarkovSpielState, player: int) -> str:
        return str(state)


def _support(p: np.ndarray) -> list[tuple[int, float]]:
    return [(int(s), float(p[s])) for s in np.flatnonzero(p > 0)]


def spiel_game(env: MarkovGameEnv, discount: float = 1.0) -> MarkovSpielGame:
    """A pyspiel game for any Markov game instance (not registered by name)."""
    return MarkovSpielGame(env, {"discount": float(discount)}, "metagame_custom")


class _Registered(MarkovSpielGame):
    """A game registered by name: subclasses give the name, defaults and env builder.

    (pyspiel keeps the registered factory until interpreter exit; it must be a class, as a
    registered closure crashes the interpreter at finalization.)"""

    short_name = ""
    defaults: dict[str, Any] = {}

    def __init__(self, params: dict[str, Any] | None = None):
        full = {**self.defaults, **(params or {})}
        super().__init__(self.build(full), full, self.short_name)

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        raise NotImplementedError


class MatrixSpielGame(_Registered):
    short_name = "metagame_matrix"
    defaults = {"game": "rps", "rounds": 1, "discount": 1.0}

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        from metagame.envs.markov.matrix import MatrixGameEnv

        return MatrixGameEnv(game=params["game"], rounds=params["rounds"])


class SoccerSpielGame(_Registered):
    short_name = "metagame_soccer"
    defaults = {"horizon": 100, "discount": 1.0}

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        from metagame.envs.markov.soccer import SoccerEnv

        return SoccerEnv(horizon=params["horizon"])


class PursuitSpielGame(_Registered):
    short_name = "metagame_pursuit_evasion"
    defaults = {"graph": "grid:3x3", "num_pursuers": 1, "horizon": 50, "discount": 1.0}

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        from metagame.envs.markov.pursuit import PursuitEvasionEnv

        return PursuitEvasionEnv(
            graph=params["graph"], num_pursuers=params["num_pursuers"], horizon=params["horizon"]
        )


class TabularSpielGame(_Registered):
    short_name = "metagame_tabular"
    defaults = {"num_states": 10, "num_actions": 3, "num_successors": 3, "seed": 0, "discount": 1.0}

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        from metagame.envs.markov.tabular import random_game

        shape = (params["num_actions"],) * 2
        return random_game(
            params["num_states"], shape, params["num_successors"], seed=params["seed"]
        )


REGISTERED = (MatrixSpielGame, SoccerSpielGame, PursuitSpielGame, TabularSpielGame)


def register() -> list[str]:
    """Registers every metagame Markov game with pyspiel (idempotent); returns the names."""
    known = set(pyspiel.registered_names())
    for cls in REGISTERED:
        if cls.short_name not in known:
            pyspiel.register_game(_registration_type(cls.short_name, cls.defaults), cls)
    return [cls.short_name for cls in REGISTERED]


def _registration_type(name: str, defaults: dict[str, Any]) -> pyspiel.GameType:
    """The type pyspiel lists before any instance exists (instances refine the utility)."""
    return pyspiel.GameType(
        short_name=name,
        long_name=f"metagame {name.removeprefix('metagame_').replace('_', ' ')}",
        dynamics=pyspiel.GameType.Dynamics.SIMULTANEOUS,
        chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
        information=pyspiel.GameType.Information.PERFECT_INFORMATION,
        utility=pyspiel.GameType.Utility.GENERAL_SUM
        if name == "metagame_matrix"
        else pyspiel.GameType.Utility.ZERO_SUM,
        reward_model=pyspiel.GameType.RewardModel.REWARDS,
        max_num_players=10 if name == "metagame_pursuit_evasion" else 2,
        min_num_players=2,
        provides_information_state_string=False,
        provides_information_state_tensor=False,
        provides_observation_string=True,
        provides_observation_tensor=True,
        parameter_specification=defaults,
    )


register()
