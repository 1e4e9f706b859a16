"""An RLlib EnvRunner that plays many OpenSpiel games at once with one forward pass per module.

RLlib's ``MultiAgentEnvRunner`` steps a vector of env copies through its connector pipelines:
per env step it runs the env-to-module and module-to-env pipelines, a forward pass of every
module on a handful of rows, and logs metrics per agent. On a game whose step costs
microseconds (Kuhn, Leduc) that per-step machinery is all the time there is (see
``benchmarks/league_throughput.py``). :class:`VectorEnvRunner` keeps RLlib's episodes,
modules, callbacks, metrics and state, and replaces the loop:

- ``num_envs_per_env_runner`` plays of the game are held as bare pyspiel states
  (:class:`metagame.agents.rllib.spiel_games.SpielGames`);
- every agent of a play is mapped to its module through the episode when the play starts
  (``episode.module_for``, i.e. the config's ``policy_mapping_fn`` called with the episode, so
  per-episode pairings in ``episode.custom_data`` work as before); at each round, each module
  gets one batched forward pass over all plays it acts in (``_forward_exploration`` or
  ``_forward_inference``, the module in eval mode for the whole call, where
  ``forward_exploration`` would switch it for every pass); actions and their
  log-probabilities come from the module's action distribution, as RLlib's ``GetActions``
  connector computes them;
- ``sample()`` returns complete episodes only, whatever ``batch_mode`` says (Leduc-sized games
  end within a few steps): nothing straddles two calls. Without ``num_timesteps`` or
  ``num_episodes`` it samples the train batch share of this runner
  (``total_train_batch_size / max(1, num_env_runners)`` env steps): new plays start while
  fewer steps than that have been taken, and the plays under way are then finished;
- the plays' moves and observations are logged a round at a time, as arrays, and each play
  is written into its episode when the call's last play has ended
  (:mod:`metagame.agents.rllib.episodes`): the same episode, already NumPy, that RLlib's
  step-by-step ``add_env_step`` would have built from what the game's RLlib adapter
  (:mod:`metagame.agents.rllib.env`) returns, so the Learner's connectors see the same data;
- callbacks: ``on_episode_created`` and ``on_episode_start`` when a play starts (before its
  first move; the episode is still empty: its data, reset observation included, is written
  when the call ends) and ``on_episode_end`` with the complete episode (when the call's plays
  have all ended, in the order they ended), ``on_sample_end`` per call; a callback defining
  ``on_episode_step`` is refused, and hooks that no callback serves are not called;
- metrics: step and episode counters once per call; episode returns and lengths (overall, per
  agent, per module) as RLlib's ``get_metrics`` logs them, but only the values its smoothing
  windows keep (:func:`log_episode_metrics`);
- module weights, connector states and ``weights_seq_no`` through RLlib's ``get_state`` /
  ``set_state`` (inherited), so ``foreach_env_runner`` weight syncs work unchanged.

Garbage collection: Python's cyclic collector is paused during a ``sample()`` call
(:func:`gc_paused`). A call's episodes outlive it (the learner holds them), so the collector
moves them to its oldest generation, and every few calls that triggers a full collection,
which scans every object of the process: on Leduc poker half a million (Ray, torch, the
algorithm), 350 ms, more than a whole iteration. So at its first ``sample()`` call the runner
collects once and moves every object then alive to the collector's permanent generation
(``gc.freeze``: full collections skip them), and moves them back when it stops
(``gc.unfreeze``, so cycles that died meanwhile are collected then).

Chance outcomes are drawn from a NumPy generator seeded, at each ``sample()`` call, from
torch's global generator, which also draws the actions: a call is a function of the torch seed
(which RLlib and the league set) and the module weights.

Select it with ``config.env_runners(env_runner_cls=VectorEnvRunner,
num_envs_per_env_runner=256)``. Supported: turn-based OpenSpiel games
(``openspiel:<game>``) with the default connectors and modules whose forward pass gives
``action_dist_inputs`` (PPO, APPO, IMPALA and the masked modules here).
"""

from __future__ import annotations

import contextlib
import gc
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core.columns import Columns
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils.metrics import (
    EPISODE_AGENT_RETURN_MEAN,
    EPISODE_AGENT_STEPS,
    EPISODE_DURATION_SEC_MEAN,
    EPISODE_LEN_MAX,
    EPISODE_LEN_MEAN,
    EPISODE_LEN_MIN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    SAMPLE_TIMER,
    TIME_BETWEEN_SAMPLING,
    WEIGHTS_SEQ_NO,
)

from metagame.agents.rllib.episodes import PlayLog, finish_episode, stack_rows
from metagame.agents.rllib.spiel_games import SpielGames

HISTORY_KEY = "metagame_spiel_history"
"""``episode.custom_data`` key of the play's full OpenSpiel history (chance outcomes and
moves), set when the episode ends: the play can be replayed on a fresh pyspiel state."""


def serves(env_name: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether :class:`VectorEnvRunner` can play ``env_name``: a turn-based OpenSpiel game."""
    if not env_name.startswith("openspiel:"):
        return False
    import pyspiel

    from metagame.envs.openspiel import load_game

    game = load_game(env_name.removeprefix("openspiel:"), **env_kwargs)
    return game.get_type().dynamics == pyspiel.GameType.Dynamics.SEQUENTIAL


class VectorEnvRunner(MultiAgentEnvRunner):
    """Plays ``num_envs_per_env_runner`` OpenSpiel games at once (see the module docstring)."""

    def __init__(self, config: Any, **kwargs: Any):
        super().__init__(config=config, **kwargs)
        if config._env_to_module_connector is not None or config._module_to_env_connector:
            raise ValueError(
                "VectorEnvRunner builds its batches itself: custom env-to-module or "
                "module-to-env connectors are not supported"
            )
        self.games = None
        self.heap_frozen = False  # see the module docstring
        self.episode_templates: dict[Any, Any] = {}  # see finish_episode
        if self.env is not None:
            adapter = self.env.envs[0].unwrapped
            self.games = SpielGames.from_env(adapter, self.num_envs)
            self.agents = list(adapter.possible_agents)
        if "on_episode_step" in self._hooks():
            raise ValueError(
                "VectorEnvRunner writes an episode when it ends: on_episode_step callbacks "
                "are not supported"
            )
        self.episode_hooks = self._hooks()

    def _hooks(self) -> frozenset[str]:
        """The episode hooks a callback object overrides or a callback function serves."""
        names = ("on_episode_created", "on_episode_start", "on_episode_step", "on_episode_end")
        return frozenset(
            name
            for name in names
            if getattr(self.config, f"callbacks_{name}") is not None
            or any(
                getattr(type(cb), name) is not getattr(RLlibCallback, name)
                for cb in self._callbacks
            )
        )

    def _make_on_episode_callback(self, which: str, idx: int, episodes: list[Any]) -> None:
        """RLlib's episode hook call, skipped when no callback serves the hook (it builds the
        call's arguments for every episode, three times per episode)."""
        if which in self.episode_hooks:
            super()._make_on_episode_callback(which, idx, episodes)

    def get_metrics(self) -> dict[str, Any]:
        """RLlib's metrics: the counters logged during sampling, and the episode metrics
        that ``MultiAgentEnvRunner.get_metrics`` logs per episode, logged by
        :func:`log_episode_metrics` (the same windows, a few log calls per kept value)."""
        window = max(
            1,
            math.ceil(
                self.config.metrics_num_episodes_for_smoothing / (self.config.num_env_runners or 1)
            ),
        )
        log_episode_metrics(self.metrics, self._done_episodes_for_metrics, window)
        self._done_episodes_for_metrics.clear()
        return self.metrics.reduce()

    def _default_timesteps(self) -> int:
        return math.ceil(self.config.total_train_batch_size / max(1, self.config.num_env_runners))

    def sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool | None = None,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[MultiAgentEpisode]:
        """Complete episodes of at least ``num_timesteps`` env steps or ``num_episodes``
        episodes (default: this runner's share of the train batch). ``force_reset`` changes
        nothing: every call starts fresh plays."""
        if self.games is None:
            raise ValueError(f"{self} has no env: it cannot sample")
        if num_timesteps is not None and num_episodes is not None:
            raise ValueError("give num_timesteps or num_episodes, not both")
        if self._time_after_sampling is not None:
            self.metrics.log_value(
                TIME_BETWEEN_SAMPLING, time.perf_counter() - self._time_after_sampling
            )
        self.metrics.log_value(WEIGHTS_SEQ_NO, self._weights_seq_no, window=1)
        explore = self.config.explore if explore is None else explore
        if not self.heap_frozen:
            gc.collect()
            gc.freeze()
            self.heap_frozen = True
        if num_timesteps is None and num_episodes is None:
            num_timesteps = self._default_timesteps()
        with self.metrics.log_time(SAMPLE_TIMER), gc_paused():
            episodes = _Sampler(self, explore, random_actions).run(num_timesteps, num_episodes)
            make_callback(
                "on_sample_end",
                callbacks_objects=self._callbacks,
                callbacks_functions=self.config.callbacks_on_sample_end,
                kwargs=dict(env_runner=self, metrics_logger=self.metrics, samples=episodes),
            )
        self._time_after_sampling = time.perf_counter()
        return episodes

    def stop(self) -> None:
        if self.heap_frozen:
            gc.unfreeze()
            self.heap_frozen = False
        super().stop()

    def _log_counts(self, episodes: list[MultiAgentEpisode]) -> None:
        """RLlib's step and episode counters, once per call instead of once per step."""
        env_steps = sum(len(e) for e in episodes)
        agents: Counter[str] = Counter()
        modules: Counter[str] = Counter()
        for episode in episodes:
            for agent, single in episode.agent_episodes.items():
                observed = len(single) + 1  # the agent's observations, as RLlib counts them
                agents[str(agent)] += observed
                modules[single.module_id] += observed
        log = self.metrics.log_value
        log(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        log(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        log(NUM_EPISODES, len(episodes), reduce="sum")
        log(NUM_EPISODES_LIFETIME, len(episodes), reduce="lifetime_sum")
        for agent, n in agents.items():
            log((NUM_AGENT_STEPS_SAMPLED, agent), n, reduce="sum")
            log((NUM_AGENT_STEPS_SAMPLED_LIFETIME, agent), n, reduce="lifetime_sum")
        for module, n in modules.items():
            log((NUM_MODULE_STEPS_SAMPLED, module), n, reduce="sum")
            log((NUM_MODULE_STEPS_SAMPLED_LIFETIME, module), n, reduce="lifetime_sum")
        self._log_env_steps(metric=self._metrics_num_env_steps_sampled, num_steps=env_steps)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused (and restored as it was) for a block.

    Episodes are made of many small containers whose allocation triggers collections that
    scan the whole heap (Ray's, torch's); they cost about a third of a sampling call. What a
    call creates is freed by reference counting; cycles wait for the next collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def log_episode_metrics(logger: Any, episodes: list[MultiAgentEpisode], window: int) -> None:
    """Logs into ``logger`` the episode metrics RLlib's ``MultiAgentEnvRunner.get_metrics``
    logs for each of ``episodes`` (complete, not chunked, in order): length, return and
    duration (mean, and min and max of length and return), per agent its return and steps,
    per module its agents' return, each a mean over a window of ``window`` values.

    RLlib logs every episode with three ``log_dict`` calls, which walk the nested dicts with
    ``tree``, and each key's window then keeps its last ``window`` values. Here the episodes
    are read backwards, each only while one of its keys (the episode's, its agents', its
    modules') has fewer than ``window`` values, and each key gets one ``log_value`` per value
    its window keeps, which leaves the logger in the same state."""
    logged: dict[tuple[str, ...], tuple[str, list[Any]]] = {}

    def wanted(key: tuple[str, ...]) -> bool:
        return key not in logged or len(logged[key][1]) < window

    def log(key: tuple[str, ...], value: Any, reduce: str = "mean") -> None:
        values = logged.setdefault(key, (reduce, []))[1]
        if len(values) < window:
            values.append(value)

    for episode in reversed(episodes):
        singles = list(episode.agent_episodes.values())
        agents = [(EPISODE_AGENT_RETURN_MEAN, str(s.agent_id)) for s in singles]
        modules = [(EPISODE_MODULE_RETURN_MEAN, s.module_id) for s in singles]
        if not any(map(wanted, [(EPISODE_LEN_MEAN,), *agents, *modules])):
            continue
        returns = [s.get_return() for s in singles]
        length, ret = len(episode), sum(returns)  # as MultiAgentEpisode.get_return adds them
        log((EPISODE_LEN_MEAN,), length)
        log((EPISODE_RETURN_MEAN,), ret)
        log((EPISODE_DURATION_SEC_MEAN,), episode.get_duration_s())
        module_returns: dict[tuple[str, ...], float] = defaultdict(float)
        for single, key, module, agent_return in zip(
            singles, agents, modules, returns, strict=True
        ):
            log(key, agent_return)
            log((EPISODE_AGENT_STEPS, key[1]), len(single))
            module_returns[module] += agent_return
        for module, module_return in module_returns.items():
            log(module, module_return)
        log((EPISODE_LEN_MIN,), length, "min")
        log((EPISODE_RETURN_MIN,), ret, "min")
        log((EPISODE_LEN_MAX,), length, "max")
        log((EPISODE_RETURN_MAX,), ret, "max")
    for key, (reduce, values) in logged.items():
        for value in reversed(values):
            logger.log_value(key, value, reduce=reduce, window=window)


def as_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A batched tensor as RLlib's ``TensorToNumpy`` connector gives it
    (``convert_to_numpy``): on the CPU, floats as float32, signed integers as int32; without
    its walk over a nested structure, and without a copy where the type is already right."""
    array = tensor.detach().cpu().numpy()
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    if np.issubdtype(array.dtype, np.signedinteger):
        return array.astype(np.int32, copy=False)
    return array


class _Sampler:
    """One ``sample()`` call: plays, rounds of batched forward passes, finished episodes.

    Every play started in the call gets a number; its moves and observations go to a
    :class:`PlayLog` a round at a time, and its episode is written when the call's last play
    has ended (then ``on_episode_end`` runs for each, in the order the plays ended)."""

    def __init__(self, runner: VectorEnvRunner, explore: bool, random_actions: bool):
        self.runner = runner
        self.games = runner.games
        self.explore = explore
        self.random_actions = random_actions
        seed = int(torch.randint(0, 2**62, ()).item())
        self.rng = np.random.default_rng(seed)
        n = runner.num_envs
        self.episodes: list[MultiAgentEpisode | None] = [None] * n
        self.pending = np.zeros((n, self.games.num_players))  # rewards not yet observed
        self.last_obs: list[Any] = [None] * n
        self.play_of = np.zeros(n, dtype=np.int64)  # each slot's play number
        self.module_ids: list[str] = []  # the modules met so far, and each slot's player's
        self.module_of = np.zeros((n, self.games.num_players), dtype=np.int64)
        self.env_t = np.zeros(n, dtype=np.int64)  # each slot's env steps so far
        self.to_move = np.zeros(n, dtype=np.int64)  # each slot's acting player
        self.log = PlayLog(runner.agents)
        self.started: list[tuple[MultiAgentEpisode, int, float]] = []  # episode, slot, start
        self.ended: list[tuple[int, int, float, list[int]]] = []  # play, steps, end, history
        self.started_steps = 0  # env steps of the finished episodes and the ones under way
        self.evaluated: list[Any] = []  # modules put in eval mode, back in training mode after

    def run(self, num_timesteps: int | None, num_episodes: int | None) -> list[MultiAgentEpisode]:
        try:
            return self._run(num_timesteps, num_episodes)
        finally:
            for module in self.evaluated:
                module.train()

    def _run(self, num_timesteps: int | None, num_episodes: int | None) -> list[MultiAgentEpisode]:
        runner = self.runner
        n = runner.num_envs
        started = 0

        def wanted() -> bool:
            if num_episodes is not None:
                return started < num_episodes
            return self.started_steps < num_timesteps

        first = list(range(n if num_episodes is None else min(n, num_episodes)))
        if num_timesteps == 0:
            first = []
        started = len(first)
        self._start(first)
        while any(e is not None for e in self.episodes):
            live = [i for i, e in enumerate(self.episodes) if e is not None]
            finished = self._round(live)
            restart = []
            for i in finished:
                self.episodes[i] = None
                if wanted():
                    restart.append(i)
                    started += 1
            if restart:
                self._start(restart)
        done = self._finish()
        runner._log_counts(done)
        runner._done_episodes_for_metrics.extend(done)
        return done

    # -- plays --------------------------------------------------------------------------------
    def _start(self, slots: list[int]) -> None:
        if not slots:
            return
        runner, games = self.runner, self.games
        now = time.perf_counter()
        for i in slots:
            games.start(i, self.rng)
            runner._new_episode(i, self.episodes)
            self.play_of[i] = len(self.started)
            self.started.append((self.episodes[i], i, now))
            for p, agent in enumerate(runner.agents):
                self.module_of[i, p] = self._module_index(self.episodes[i].module_for(agent))
        self.pending[slots] = 0.0
        self.env_t[slots] = 0
        players = [games.current_player(i) for i in slots]
        self.to_move[slots] = players
        rows = games.observe(slots, players)
        self.log.observe(
            self.play_of[slots],
            self.to_move[slots],
            self.env_t[slots],
            np.zeros(len(slots)),
            rows,
        )
        for i, row in zip(slots, rows, strict=True):
            runner._make_on_episode_callback("on_episode_start", i, self.episodes)
            self.last_obs[i] = row

    def _module_index(self, module_id: str) -> int:
        if module_id not in self.module_ids:
            self.module_ids.append(module_id)
        return self.module_ids.index(module_id)

    def _finish(self) -> list[MultiAgentEpisode]:
        """The ended plays' episodes, written from the log, with their end callbacks."""
        runner, log = self.runner, self.log
        if not self.started:
            return []
        log.close(len(self.started))
        done = []
        for play, steps, end, history in self.ended:
            episode, slot, start = self.started[play]
            finish_episode(
                episode, log.play(play, steps, start, end), templates=runner.episode_templates
            )
            episode.custom_data[HISTORY_KEY] = history
            runner._make_on_episode_callback("on_episode_end", slot, {slot: episode})
            # RLlib's callback helper looked up the episode's earlier chunks (none) in a
            # defaultdict, adding an entry
            runner._ongoing_episodes_for_metrics.pop(episode.id_, None)
            done.append(episode)
        return done

    # -- one round: every live play moves once ------------------------------------------------
    def _round(self, live: list[int]) -> list[int]:
        """Every live play's acting agent moves; the plays that ended."""
        runner, games, rng, pending = self.runner, self.games, self.rng, self.pending
        players = self.to_move[live]
        actions, extras = self._act(live, players)
        extras[WEIGHTS_SEQ_NO] = np.full(len(live), runner._weights_seq_no)
        self.log.act(self.play_of[live], players, actions, extras)
        terminal, acting, acting_players = [], [], []
        no_reward = games.no_reward
        for i, action in zip(live, actions.tolist(), strict=True):
            rewards = games.act(i, action, rng)
            if rewards is not no_reward:
                pending[i] += rewards
            if games.is_terminal(i):
                terminal.append(i)
            else:
                acting.append(i)
                acting_players.append(games.current_player(i))
        self.started_steps += len(live)
        self.env_t[live] += 1
        if acting:
            self.to_move[acting] = acting_players
            rows = games.observe(acting, acting_players)
            self.log.observe(
                self.play_of[acting],
                self.to_move[acting],
                self.env_t[acting],
                pending[acting, acting_players],
                rows,
            )
            pending[acting, acting_players] = 0.0
            for i, row in zip(acting, rows, strict=True):
                self.last_obs[i] = row
        if terminal:
            num = games.num_players
            slots = np.repeat(terminal, num)
            seats = np.tile(np.arange(num), len(terminal))
            infos = []
            now = time.perf_counter()
            for i in terminal:
                state = games.states[i]
                infos += [{"returns": float(r)} for r in state.returns()]
                self.ended.append((int(self.play_of[i]), int(self.env_t[i]), now, state.history()))
            self.log.observe(
                self.play_of[slots],
                seats,
                self.env_t[slots],
                pending[slots, seats],
                games.observe(slots.tolist(), seats.tolist()),
                infos,
            )
        return terminal

    def _act(self, live: list[int], players: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """Actions of the acting agents, and the module outputs stored with them."""
        if self.random_actions:
            return self._random_actions(live, players), {}
        rows = [self.last_obs[i] for i in live]
        modules = self.module_of[live, players]
        actions = np.zeros(len(live), dtype=np.int32)
        extras: dict[str, np.ndarray] = {}
        for m in np.unique(modules).tolist():
            ks = np.flatnonzero(modules == m)
            out = self._forward(self.module_ids[m], stack_rows([rows[k] for k in ks]))
            actions[ks] = out.pop(Columns.ACTIONS)
            for key, value in out.items():
                if key not in extras:
                    extras[key] = np.zeros((len(live), *value.shape[1:]), value.dtype)
                extras[key][ks] = value
        return actions, extras

    def _forward(self, module_id: str, batch: Any) -> dict[str, np.ndarray]:
        """One forward pass of a module over a batch; actions sampled as RLlib's
        ``GetActions`` connector samples them."""
        module = self.runner.module[module_id]
        obs = (
            {k: torch.from_numpy(v) for k, v in batch.items()}
            if isinstance(batch, dict)
            else torch.from_numpy(batch)
        )
        if module.training:  # as forward_exploration/inference set it, once per call
            module.eval()
            self.evaluated.append(module)
        with torch.no_grad():
            if self.explore:
                out = module._forward_exploration({Columns.OBS: obs})
                dist_cls = module.get_exploration_action_dist_cls()
            else:
                out = module._forward_inference({Columns.OBS: obs})
                dist_cls = module.get_inference_action_dist_cls()
            if Columns.ACTIONS not in out:
                if Columns.ACTION_DIST_INPUTS not in out:
                    raise ValueError(
                        f"module {module_id!r} gives neither actions nor action_dist_inputs"
                    )
                dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
                if not self.explore:
                    dist = dist.to_deterministic()
                out[Columns.ACTIONS] = dist.sample()
                if Columns.ACTION_LOGP not in out:
                    out[Columns.ACTION_LOGP] = dist.logp(out[Columns.ACTIONS])
        out.pop(Columns.EMBEDDINGS, None)
        return {k: as_numpy(v) for k, v in out.items() if isinstance(v, torch.Tensor)}

    def _random_actions(self, live: list[int], players: np.ndarray) -> np.ndarray:
        states = self.games.states
        return np.array(
            [self.rng.choice(states[i].legal_actions(p)) for i, p in zip(live, players.tolist())]
        )
