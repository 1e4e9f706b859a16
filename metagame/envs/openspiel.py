"""Every OpenSpiel game as a PettingZoo environment.

``make("openspiel:kuhn_poker")`` loads the game with ``pyspiel.load_game`` and wraps it:

- sequential (turn-based) games become :class:`OpenSpielAECEnv`, simultaneous-move games
  :class:`OpenSpielParallelEnv`; mean-field games are not multi-agent games and are refused;
- agents are ``player_0 .. player_{n-1}`` (OpenSpiel's player ids);
- an observation is ``{"observation": float32 tensor, "action_mask": int8 mask}``. The tensor is
  chosen by ``observation=``: ``"information_state"`` (OpenSpiel's information-state tensor:
  everything the player has seen, betting history included, so a policy over it has perfect
  recall), ``"observation"`` (OpenSpiel's observation tensor: what the player sees now; in
  Leduc poker it omits the first round's bets, so policies over it cannot represent the game's
  equilibrium), or ``"auto"`` (the default): the information state in imperfect-information
  games, as OpenSpiel's own ``rl_environment`` observes them, the observation tensor in perfect-
  information games (where it is the Markov state), each falling back on the other where the
  game lacks it; a perfect-information game with neither
  (``python_iterated_prisoners_dilemma``, whose observer gives strings only) is observed
  through its last ``history_window`` moves, each a one-hot of who moved (chance or a player)
  beside a one-hot of the action, zeros before the first move (a fixed-size Box that RLlib's
  encoders take);
- the reward of a step is the change in ``state.returns()`` over the step (the player's action
  and any chance outcomes after it), so rewards add up exactly to OpenSpiel's returns;
- chance nodes are sampled from the env's own ``numpy`` generator, seeded by ``reset(seed=...)``;
- an illegal action raises ``ValueError`` (never a silent substitute or a penalty).

At a sequential node of a simultaneous-move game only the acting player's action counts; the
others see a mask with only action 0 legal and their actions are ignored.

Every registered name is reachable: OpenSpiel's C++ games, its Python games (``python_*``,
registered by importing ``open_spiel.python.games``, which this module does when it first
loads or lists a game) and our own Markov games (``metagame_soccer`` and friends, registered by
``import metagame.envs``, see ``metagame.envs.markov.spiel``).

Why not Shimmy's ``OpenSpielCompatibilityV0`` (Farama's wrapper; shimmy 2.0.1 installs beside
the pinned gymnasium, numpy, open_spiel and pettingzoo): it is AEC only, playing simultaneous
moves one agent at a time; it puts the action mask in ``infos`` rather than in the
observation, which metagame's encoders, policies and RLlib modules read; it observes
string-only games as ``Text`` spaces no network encoder takes; its observations are float64;
an illegal action reaches ``apply_action`` (a ``SpielError``) instead of a ``ValueError``
naming the legal ones; and it renders only by printing. Each of these is a contract the rest
of metagame relies on, so this module keeps its own wrapper.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium
import numpy as np
import pyspiel
from pettingzoo import AECEnv, ParallelEnv

from metagame.envs.masking import masked_space
from metagame.envs.rendered import Rendered

RENDER_MODES = ["human", "rgb_array", "ansi"]
OBSERVATIONS = ("auto", "information_state", "observation")

HISTORY_INFORMATION = (
    pyspiel.GameType.Information.PERFECT_INFORMATION,
    pyspiel.GameType.Information.ONE_SHOT,
)


@functools.cache
def _register_python_games() -> None:
    import open_spiel.python.games  # noqa: F401  (registers the python_* games)


def _registered() -> dict[str, pyspiel.GameType]:
    """Every game pyspiel registers now, OpenSpiel's Python games included."""
    _register_python_games()
    return {g.short_name: g for g in pyspiel.registered_games()}


# Games pyspiel registers that cannot be played as loaded, with the reason make() gives.
UNPLAYABLE = {
    "chat_game": "needs an LLM client loaded into it (ChatGame.load_chat_game) before any play",
}


@functools.cache
def list_games() -> dict[str, str]:
    """``openspiel:<short_name>`` -> description, for every multi-agent game pyspiel registers."""
    out = {}
    for game_type in _registered().values():
        if game_type.dynamics == pyspiel.GameType.Dynamics.MEAN_FIELD:
            continue
        if game_type.short_name in UNPLAYABLE:
            continue
        dynamics = "simultaneous" if _is_simultaneous(game_type) else "turn-based"
        players = (
            f"{game_type.min_num_players}"
            if game_type.min_num_players == game_type.max_num_players
            else f"{game_type.min_num_players}-{game_type.max_num_players}"
        )
        out[f"openspiel:{game_type.short_name}"] = (
            f"OpenSpiel {game_type.long_name} ({dynamics}, {players} players)"
        )
    return out


def _is_simultaneous(game_type) -> bool:
    return game_type.dynamics == pyspiel.GameType.Dynamics.SIMULTANEOUS


def load_game(name: str, **params: Any) -> pyspiel.Game:
    """Loads ``name`` (optionally ``name(param=value,...)``) with extra ``params``.

    Raises ValueError naming the game or parameter that pyspiel rejects.
    """
    short = name.split("(", 1)[0]
    known = _registered()
    if short not in known:
        import difflib

        close = difflib.get_close_matches(short, list(known), n=5, cutoff=0.5)
        hint = f"; closest: {', '.join('openspiel:' + c for c in close)}" if close else ""
        raise ValueError(f"unknown OpenSpiel game {short!r}{hint}")
    if short in UNPLAYABLE:
        raise ValueError(f"openspiel:{short} {UNPLAYABLE[short]}")
    spec = known[short].parameter_specification
    for key, value in params.items():
        if key not in spec:
            raise ValueError(
                f"openspiel:{short}: unknown parameter {key!r} (accepted: {', '.join(spec)})"
            )
        _check_int_parameter(short, key, value, spec[key])
    if params and "(" in name:
        raise ValueError(f"give parameters of {name!r} either in the name or as kwargs")
    try:
        return pyspiel.load_game(short, params) if params else pyspiel.load_game(name)
    except pyspiel.SpielError as err:
        raise ValueError(f"openspiel:{name}: {err}") from None
    except (RuntimeError, IndexError, AssertionError) as err:  # pyspiel's C++ checks and lookups
        raise ValueError(
            f"openspiel:{name}: pyspiel refused it ({type(err).__name__}: {err})"
        ) from None


def _check_int_parameter(game: str, key: str, value: Any, default: Any) -> None:
    """Integer parameters: within C++'s int, and not negative where the default is not (some
    OpenSpiel games crash the process on a negative size instead of raising, e.g. blotto's
    ``fields``; a default of -1 means "unset" in the games that take negatives)."""
    if not isinstance(default, int) or isinstance(default, bool) or isinstance(value, bool):
        return
    if not isinstance(value, int | np.integer):
        return  # pyspiel names a wrong type itself
    if not -(2**31) <= value < 2**31:
        raise ValueError(f"openspiel:{game}: parameter {key!r} is out of range: {value}")
    if default >= 0 and value < 0:
        raise ValueError(
            f"openspiel:{game}: parameter {key!r} must be >= 0 (default {default}), got {value}"
        )


def make_openspiel_env(
    game: str,
    render_mode: str | None = None,
    history_window: int = 8,
    observation: str = "auto",
    **params: Any,
):
    """Makes the PettingZoo env for an OpenSpiel game string (the part after ``openspiel:``).

    ``observation``: which tensor observes a player, one of :data:`OBSERVATIONS` (see the
    module docstring). ``history_window``: how many past moves observe a perfect-information
    game that provides no tensor; unused otherwise.
    """
    if observation not in OBSERVATIONS:
        raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
    loaded = load_game(game, **params)
    game_type = loaded.get_type()
    if game_type.dynamics == pyspiel.GameType.Dynamics.MEAN_FIELD:
        raise ValueError(f"openspiel:{game} is a mean-field game, not a multi-agent game")
    if (
        tensor_source(loaded, observation)[0] == "history"
        and game_type.information not in HISTORY_INFORMATION
    ):
        raise ValueError(
            f"openspiel:{game} provides neither observation nor information-state tensors, and "
            "its history would reveal hidden information"
        )
    if not isinstance(history_window, int) or history_window < 1:
        raise ValueError(f"history_window must be a positive integer, got {history_window!r}")
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ValueError(f"render_mode must be one of {RENDER_MODES}, got {render_mode!r}")
    cls = OpenSpielParallelEnv if _is_simultaneous(game_type) else OpenSpielAECEnv
    return cls(
        loaded,
        name=f"openspiel:{game}",
        render_mode=render_mode,
        history_window=history_window,
        observation=observation,
    )


def tensor_source(game: pyspiel.Game, observation: str = "auto") -> tuple[str, list[int] | None]:
    """What observes a player: ``("observation", shape)``, ``("information_state", shape)``,
    or ``("history", None)`` for a game with neither. ``observation`` (one of
    :data:`OBSERVATIONS`) says which tensor comes first; the other is the fallback, as it is
    where a game claims a tensor it does not implement."""
    game_type = game.get_type()
    tensors = [
        (game_type.provides_observation_tensor, "observation", game.observation_tensor_shape),
        (
            game_type.provides_information_state_tensor,
            "information_state",
            game.information_state_tensor_shape,
        ),
    ]
    if observation == "auto":
        imperfect = game_type.information == pyspiel.GameType.Information.IMPERFECT_INFORMATION
        observation = "information_state" if imperfect else "observation"
    if observation == "information_state":
        tensors.reverse()
    for provided, source, shape_of in tensors:
        if provided:
            try:
                return source, shape_of()
            except pyspiel.SpielError:
                continue
    return "history", None


def _mask(state: pyspiel.State, player: int, num_actions: int) -> np.ndarray:
    mask = np.zeros(num_actions, dtype=np.int8)
    if state.is_terminal():
        return mask
    legal = state.legal_actions(player)
    if legal:
        mask[legal] = 1
    else:  # not this player's turn at a sequential node of a simultaneous game: a no-op
        mask[0] = 1
    return mask


class _OpenSpielGame(Rendered):
    """What both wrappers share: spaces, chance sampling, observations and reward bookkeeping."""

    def __init__(
        self,
        game: pyspiel.Game,
        name: str,
        render_mode: str | None = None,
        history_window: int = 8,
        observation: str = "auto",
    ):
        super().__init__()  # AECEnv's set-up for a turn-based game; nothing for a Parallel one
        self.agents: list[str] = []
        self.game = game
        self.render_mode = render_mode
        self.metadata = {"name": name, "render_modes": RENDER_MODES, "is_parallelizable": False}
        self._source, shape = tensor_source(game, observation)
        if self._source == "history":
            self._symbols = max(game.num_distinct_actions(), game.max_chance_outcomes())
            self._history_shape = (history_window, 1 + game.num_players() + self._symbols)
            shape = [int(np.prod(self._history_shape))]  # flat: RLlib's encoders take 1-D boxes
        self._obs_shape = tuple(shape)
        n_actions = game.num_distinct_actions()
        self.possible_agents = [f"player_{i}" for i in range(game.num_players())]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.observation_spaces = {
            a: masked_space(
                gymnasium.spaces.Box(-np.inf, np.inf, shape=self._obs_shape, dtype=np.float32),
                n_actions,
            )
            for a in self.possible_agents
        }
        self.action_spaces = {a: gymnasium.spaces.Discrete(n_actions) for a in self.possible_agents}
        self._rng: np.random.Generator | None = None
        self.game_state: pyspiel.State | None = None
        self._painter = None

    def observation_space(self, agent: str) -> gymnasium.spaces.Dict:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Discrete:
        return self.action_spaces[agent]

    def _new_state(self, seed: int | None) -> None:
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        if seed is not None:
            for i, agent in enumerate(self.possible_agents):
                self.action_spaces[agent].seed(seed + i)
        self.game_state = self.game.new_initial_state()
        self._returns = np.zeros(self.game.num_players())
        self._sample_chance()

    def _sample_chance(self) -> None:
        state = self.game_state
        while state.is_chance_node():
            outcomes, probs = zip(*state.chance_outcomes(), strict=True)
            p = np.asarray(probs, dtype=np.float64)
            state.apply_action(int(outcomes[self._rng.choice(len(outcomes), p=p / p.sum())]))

    def _step_rewards(self) -> np.ndarray:
        """The change in returns since the last call: this step's rewards, exactly."""
        returns = np.asarray(self.game_state.returns(), dtype=np.float64)
        rewards, self._returns = returns - self._returns, returns
        return rewards

    def _observation(self, agent: str) -> dict[str, np.ndarray]:
        return self.observation_at(self.game_state, self._index[agent])

    def observation_at(self, state: pyspiel.State, player: int) -> dict[str, np.ndarray]:
        """What this env shows ``player`` at any OpenSpiel ``state`` of its game (the league's
        exact exploitability and exact best responses query policies through it)."""
        if self._source == "observation":
            tensor = state.observation_tensor(player)
        elif self._source == "information_state":
            tensor = state.information_state_tensor(player)
        else:
            tensor = self._history_tensor(state)
        return {
            "observation": np.asarray(tensor, dtype=np.float32).reshape(self._obs_shape),
            "action_mask": _mask(state, player, self.game.num_distinct_actions()),
        }

    @property
    def tensor_source(self) -> str:
        """``"observation"``, ``"information_state"`` or ``"history"``: what observes a player."""
        return self._source

    def _history_tensor(self, state: pyspiel.State) -> np.ndarray:
        """The last moves, oldest first: one-hot mover (chance, player 0, ...) and action."""
        window, width = self._history_shape
        tensor = np.zeros((window, width), dtype=np.float32)
        moves = state.full_history()[-window:]
        for row, move in enumerate(moves, start=window - len(moves)):
            tensor[row, 0 if move.player == pyspiel.PlayerId.CHANCE else 1 + move.player] = 1.0
            tensor[row, 1 + self.game.num_players() + move.action] = 1.0
        return tensor.ravel()

    def _check_legal(self, agent: str, action: Any) -> int:
        try:
            action = int(action)
        except (TypeError, ValueError):
            raise ValueError(f"{agent}: action must be an integer, got {action!r}") from None
        legal = self.game_state.legal_actions(self._index[agent])
        if action not in legal:
            raise ValueError(f"{agent}: illegal action {action}; legal actions: {legal}")
        return action

    def _frame(self) -> np.ndarray | str | None:
        if self.game_state is None:
            return None
        if self.render_mode == "ansi":
            return str(self.game_state)
        from metagame.envs.openspiel_render import SpielPainter

        self._painter = self._painter or SpielPainter(self.game, self.metadata["name"])
        return self._painter.draw(self.game_state)


class OpenSpielAECEnv(_OpenSpielGame, AECEnv):
    """A turn-based OpenSpiel game as a PettingZoo AEC environment."""

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._new_state(seed)
        self.agents = self.possible_agents[:]
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self._select_next()

    def _select_next(self) -> None:
        state = self.game_state
        if state.is_terminal():
            self.terminations = {a: True for a in self.agents}
            for a in self.agents:
                self.infos[a] = {"returns": float(self._returns[self._index[a]])}
            self.agent_selection = self.agents[0]
        else:
            self.agent_selection = self.possible_agents[state.current_player()]

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        return self._observation(agent)

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self.game_state.apply_action(self._check_legal(agent, action))
        self._sample_chance()
        rewards = self._step_rewards()
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {a: float(rewards[self._index[a]]) for a in self.agents}
        self._select_next()
        self._accumulate_rewards()
        if self.render_mode == "human":
            self.render()


class OpenSpielParallelEnv(_OpenSpielGame, ParallelEnv):
    """A simultaneous-move OpenSpiel game as a PettingZoo Parallel environment."""

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._new_state(seed)
        self.agents = self.possible_agents[:]
        return {a: self._observation(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action given for {', '.join(missing)}")
        state = self.game_state
        if state.is_simultaneous_node():
            state.apply_actions([self._check_legal(a, actions[a]) for a in self.agents])
        else:
            actor = self.possible_agents[state.current_player()]
            state.apply_action(self._check_legal(actor, actions[actor]))
        self._sample_chance()
        rewards = self._step_rewards()
        done = state.is_terminal()
        agents = self.agents
        observations = {a: self._observation(a) for a in agents}
        reward_dict = {a: float(rewards[self._index[a]]) for a in agents}
        infos = {
            a: ({"returns": float(self._returns[self._index[a]])} if done else {}) for a in agents
        }
        return self._end_step(observations, reward_dict, done, infos)

    def state(self) -> np.ndarray:
        """The full state as OpenSpiel's observation tensor of every player, concatenated."""
        return np.concatenate(
            [self._observation(a)["observation"].ravel() for a in self.possible_agents]
        )
