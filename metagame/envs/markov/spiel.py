"""Our Markov games as OpenSpiel Python games, so OpenSpiel's algorithms run on them.

``import metagame.envs`` registers, with ``pyspiel.register_game`` (:func:`register`):

- ``metagame_matrix(game="rps", rounds=1)``: a catalog matrix game, one-shot or repeated;
- ``metagame_soccer(horizon=100)``: Littman's soccer;
- ``metagame_pursuit_evasion(graph="grid:3x3", num_pursuers=1, horizon=50)``;
- ``metagame_tabular(num_states=10, num_actions=3, num_successors=3, seed=0, horizon=100)``:
  a random two-player zero-sum game (``metagame.envs.markov.tabular.random_game``).

Each also takes ``discount`` (default 1). ``spiel_game(env, discount)`` does the same for any
:class:`MarkovGameEnv` instance (e.g. a ``TabularMarkovGame``).

The games are simultaneous-move with explicit chance. One step from Markov state ``s`` is: the
players' joint action; a chance node over the successors ``s'`` when there are several (it
realises the step's reward, which in soccer depends on the drawn move order); then, when
``discount < 1`` and ``s'`` is not terminal, a chance node that stops the game with probability
``1 - discount``. So OpenSpiel's undiscounted returns are, in expectation, the discounted
returns of the Markov game. A step's reward is returned by ``rewards()`` at the next decision
or terminal node (rewards add up over the chance nodes in between and restart after the
players move), so ``rewards()`` summed over those nodes is ``returns()``, as OpenSpiel's
``random_sim_test`` and ``rl_environment`` require. Play stops at ``horizon`` steps.

``str(state)`` names the Markov state, the node kind, and the returns so far wherever they
can differ between histories reaching that node (always at the end; everywhere in games that
pay rewards before the end). Only at the end does it name the step count (of a game stopped
by the discount or the horizon). The observation string and tensor are the Markov state
alone. Hence OpenSpiel's ``value_iteration`` (whose stage games it solves
by linear programming, ``lp_solver``), which reads utilities only at terminal nodes, computes
the value of ``solve_markov_game(R, T, gamma=discount)``:

- at every state, with ``cyclic_game=True``, in games that pay only on entering a terminal
  state (soccer, pursuit-evasion, one-shot matrix games) whose ``horizon`` exceeds the number
  of reachable states (so that OpenSpiel's depth-first enumeration meets no truncation);
- at every state, plus the returns so far, with ``cyclic_game=False``, in games without cycles
  (repeated matrix games, any ``rounds`` and ``discount``).

It does not in games that pay along cycles (random tabular games): their histories differ by
their returns, so OpenSpiel would enumerate histories; use ``solve_markov_game`` there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyspiel

if TYPE_CHECKING:
    from metagame.envs.markov.base import MarkovGameEnv


class MarkovSpielGame(pyspiel.Game):
    """A pyspiel game over the tabular model of a :class:`MarkovGameEnv`."""

    def __init__(self, env: MarkovGameEnv, params: dict[str, Any], short_name: str):
        discount = float(params.get("discount", 1.0))
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must lie in (0, 1], got {discount}")
        horizon = env.max_steps or int(params.get("horizon", 1000))
        tab = env.tabular(sparse=True)
        self.env, self.tab, self.discount, self.horizon = env, tab, discount, horizon
        self.shape = tab.num_actions
        self.masks = env.action_masks
        self.pays_along_the_way = _pays_along_the_way(env)
        n = len(self.shape)
        zero_sum = tab.zero_sum and n == 2
        low = min(0.0, float(env._outcome_rewards.min(initial=0.0))) * horizon
        high = max(0.0, float(env._outcome_rewards.max(initial=0.0))) * horizon
        long_name = f"metagame {type(env).__name__}"
        game_type = _game_type(short_name, long_name, zero_sum, (n, n), params)
        super().__init__(
            game_type,
            pyspiel.GameInfo(
                num_distinct_actions=max(self.shape),
                max_chance_outcomes=max(tab.num_states, 2),
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


def _pays_along_the_way(env: MarkovGameEnv) -> bool:
    """Whether some transition into a non-terminal state carries a reward."""
    into = env._terminal[env._T.indices]
    return bool(np.any(env._outcome_rewards[:, ~into] != 0.0))


CONTINUE, STOP = 0, 1  # the outcomes of a discount node


class MarkovSpielState(pyspiel.State):
    """A node of the game: the start (a chance node over the initial distribution), a Markov
    state where the players move, a move (a chance node over the successors of a joint action,
    which realises the step's reward), a discount node (stop with probability ``1 - discount``)
    or the end."""

    def __init__(self, game: MarkovSpielGame):
        super().__init__(game)
        n = len(game.shape)
        self._s = -1
        self._t = 0
        self._node = "start"
        self._joint: tuple[int, ...] | None = None
        self._rewards = np.zeros(n)  # realised since the last decision node
        self._returns = np.zeros(n)
        start = np.flatnonzero(game.tab.initial > 0)
        if len(start) == 1:
            self._arrive(int(start[0]), self._rewards)

    @property
    def _game(self) -> MarkovSpielGame:
        # not kept in __dict__: OpenSpiel clones a Python state by copying its __dict__
        return self.get_game()

    def _arrive(self, s: int, reward: np.ndarray) -> None:
        """Enters Markov state ``s`` with the step's realised ``reward``."""
        game = self._game
        self._s = s
        self._rewards = self._rewards + reward
        self._returns = self._returns + reward
        if game.tab.terminal[s] or self._t >= game.horizon:
            self._node = "end"
        elif game.discount < 1.0 and self._t > 0:
            self._node = "discount"
        else:
            self._node = "play"

    def current_player(self) -> int:
        if self._node == "end":
            return pyspiel.PlayerId.TERMINAL
        if self._node == "play":
            return pyspiel.PlayerId.SIMULTANEOUS
        return pyspiel.PlayerId.CHANCE

    def _legal_actions(self, player: int) -> list[int]:
        if self._game.masks is None:
            return list(range(self._game.shape[player]))
        return np.flatnonzero(self._game.masks[player][self._s]).tolist()

    def chance_outcomes(self) -> list[tuple[int, float]]:
        game = self._game
        if self._node == "start":
            return [(int(s), float(game.tab.initial[s])) for s in np.flatnonzero(game.tab.initial)]
        if self._node == "move":
            succ, probs, _ = game.env.outcomes(self._s, self._joint)
            return [(int(s), float(p)) for s, p in zip(succ, probs)]
        return [(CONTINUE, game.discount), (STOP, 1.0 - game.discount)]

    def _apply_action(self, action: int) -> None:
        if self._node == "start":
            self._arrive(int(action), np.zeros_like(self._rewards))
        elif self._node == "move":
            succ, _, rewards = self._game.env.outcomes(self._s, self._joint)
            self._arrive(int(action), rewards[:, int(np.flatnonzero(succ == action)[0])])
        else:
            self._node = "end" if action == STOP else "play"

    def _apply_actions(self, actions: list[int]) -> None:
        self._joint = tuple(int(a) for a in actions)
        self._rewards = np.zeros_like(self._rewards)  # the decision node consumed them
        self._t += 1
        succ, _, rewards = self._game.env.outcomes(self._s, self._joint)
        if len(succ) == 1:
            self._arrive(int(succ[0]), rewards[:, 0])
        else:
            self._node = "move"

    def _action_to_string(self, player: int, action: int) -> str:
        if player != pyspiel.PlayerId.CHANCE:
            return f"p{player}:{action}"
        if self._node == "discount":
            return "stop" if action == STOP else "continue"
        return f"state {action}"

    def is_terminal(self) -> bool:
        return self._node == "end"

    def rewards(self) -> np.ndarray:
        return self._rewards

    def returns(self) -> np.ndarray:
        return self._returns

    @property
    def state_id(self) -> int:
        """The Markov state this node is at, as an index of the game's tabular arrays (-1 at
        the start, before the initial state is drawn)."""
        return self._s

    def markov_state(self) -> str:
        """The Markov state this node is at, as players observe it."""
        if self._s < 0:
            return "start"
        return f"state {self._s} {self._game.tab.observations[self._s].tolist()}"

    def __str__(self) -> str:
        game = self._game
        text = self.markov_state()
        if self._node == "move":
            text += f" after {list(self._joint)}"
        elif self._node == "discount":
            text += " before the discount draw"
        elif self._node == "end" and not game.tab.terminal[self._s]:
            text += f" stopped at step {self._t}"
        if self._node == "end" or game.pays_along_the_way:
            text += f" returns {self._returns.tolist()}"
        return text


class MarkovObserver:
    """Observation tensor: the env's observation vector of the current Markov state (zeros at
    the start); observation string: :meth:`MarkovSpielState.markov_state`."""

    def __init__(self, size: int):
        self.tensor = np.zeros(size, np.float32)
        self.dict = {"observation": self.tensor}

    def set_from(self, state: MarkovSpielState, player: int) -> None:
        self.tensor[:] = state._game.tab.observations[state._s] if state._s >= 0 else 0.0

    def string_from(self, state: MarkovSpielState, player: int) -> str:
        return state.markov_state()


def spiel_game(env: MarkovGameEnv, discount: float = 1.0) -> MarkovSpielGame:
    """A pyspiel game for any Markov game instance. It is not registered by name, so pyspiel
    cannot load it back from its string (serialisation, as in ``random_sim_test(...,
    serialize=True)``, needs a registered game such as ``metagame_tabular``)."""
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
    defaults = {
        "num_states": 10,
        "num_actions": 3,
        "num_successors": 3,
        "seed": 0,
        "horizon": 100,
        "discount": 1.0,
    }

    @staticmethod
    def build(params: dict[str, Any]) -> MarkovGameEnv:
        from metagame.envs.markov.tabular import random_game

        shape = (params["num_actions"],) * 2
        return random_game(
            params["num_states"],
            shape,
            params["num_successors"],
            seed=params["seed"],
            horizon=params["horizon"],
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
    long_name = f"metagame {name.removeprefix('metagame_').replace('_', ' ')}"
    players = (2, 10 if name == "metagame_pursuit_evasion" else 2)
    return _game_type(name, long_name, name != "metagame_matrix", players, defaults)


def _game_type(
    name: str, long_name: str, zero_sum: bool, players: tuple[int, int], params: dict[str, Any]
) -> pyspiel.GameType:
    """What every metagame Markov game is to pyspiel: simultaneous moves, explicit chance,
    perfect information, rewards along the way, observed by string and tensor; ``players`` is
    (min, max)."""
    utility = pyspiel.GameType.Utility
    return pyspiel.GameType(
        short_name=name,
        long_name=long_name,
        dynamics=pyspiel.GameType.Dynamics.SIMULTANEOUS,
        chance_mode=pyspiel.GameType.ChanceMode.EXPLICIT_STOCHASTIC,
        information=pyspiel.GameType.Information.PERFECT_INFORMATION,
        utility=utility.ZERO_SUM if zero_sum else utility.GENERAL_SUM,
        reward_model=pyspiel.GameType.RewardModel.REWARDS,
        max_num_players=players[1],
        min_num_players=players[0],
        provides_information_state_string=False,
        provides_information_state_tensor=False,
        provides_observation_string=True,
        provides_observation_tensor=True,
        parameter_specification=params,
    )
