"""A finished turn-based play written into RLlib's ``MultiAgentEpisode`` in one go.

RLlib builds an episode step by step (``add_env_step``), re-validating its per-agent
bookkeeping at every step, then converts it to NumPy (``to_numpy``); for a game of a few moves
that costs more than playing it. A finished :class:`Play` holds what each agent saw and did
during a play, as arrays, and :func:`finish_episode` writes it into the episode: the same
``MultiAgentEpisode`` state (its fields are those of ``MultiAgentEpisode.get_state``) that
``add_env_reset``, one ``add_env_step`` per step and ``to_numpy`` would have produced (the
tests compare the two), without the per-step copies and validations.

A play is recorded step by step (:class:`PlayRecord`), or, for many plays stepped in lockstep,
one block of steps at a time (:class:`PlayLog`: a block is a round of batched moves or the
observations after it, logged as arrays without Python work per step; each play's arrays are
cut from the whole log, sorted once, when the plays are over).

A turn-based play, as :class:`metagame.agents.rllib.env.MultiAgentAdapter` reports it: at each
env step one agent acts; the next acting agent observes (with the reward it accumulated since
its last observation); at the last step every agent observes its final observation and reward.
"""

from __future__ import annotations

import functools
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer

SKIP = "S"  # RLlib's marker of an env step at which an agent did not observe


class AgentPart(NamedTuple):
    """One agent's part of a finished play, as arrays: its observations (with infos and
    their env steps ``env_t``), then per action the action, the module's outputs and the
    reward received at the next observation."""

    observations: Any
    infos: list[dict]
    actions: np.ndarray
    rewards: np.ndarray
    extra: dict[str, np.ndarray]
    env_t: Sequence[int]


class Play(NamedTuple):
    """A finished play: every agent's part in the order the agents first observed, the env
    steps taken, and its start and end (``time.perf_counter``)."""

    agents: dict[str, AgentPart]
    env_steps: int
    start_time: float
    end_time: float


@dataclass
class AgentRecord:
    """One agent's part of a play in progress (see :class:`AgentPart`), in lists."""

    observations: list[Any] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    env_t: list[int] = field(default_factory=list)

    def part(self) -> AgentPart:
        return AgentPart(
            observations=stack_rows(self.observations),
            infos=self.infos,
            actions=np.asarray(self.actions),
            rewards=np.asarray(self.rewards, dtype=np.float64),
            extra={k: np.asarray(v) for k, v in self.extra.items()},
            env_t=self.env_t,
        )


class PlayRecord:
    """One play in progress, step by step: every agent's :class:`AgentRecord` and the env
    steps taken."""

    def __init__(self) -> None:
        self.agents: dict[str, AgentRecord] = {}
        self.env_steps = 0
        self.start_time = time.perf_counter()

    def observe(self, agent: str, observation: Any, info: dict, reward: float) -> None:
        """``agent`` observes at the current env step, with the reward accumulated since its
        previous observation (a reward before its first observation is dropped, as
        ``MultiAgentEpisode`` drops it)."""
        record = self.agents.get(agent)
        if record is None:
            record = self.agents[agent] = AgentRecord()
        else:
            record.rewards.append(reward)
        record.observations.append(observation)
        record.infos.append(info)
        record.env_t.append(self.env_steps)

    def act(self, agent: str, action: Any, extra: dict[str, Any]) -> None:
        """``agent`` acts at the current env step (with its module's outputs)."""
        record = self.agents[agent]
        record.actions.append(action)
        for key, value in extra.items():
            record.extra[key].append(value)
        self.env_steps += 1

    def finished(self) -> Play:
        """The play, ended now."""
        parts = {agent: record.part() for agent, record in self.agents.items()}
        return Play(parts, self.env_steps, self.start_time, time.perf_counter())


class PlayLog:
    """The steps of many plays, logged one block at a time (a round of batched moves, or
    the observations after it) as arrays; :meth:`close` sorts them once, after which each
    play is slices of the sorted arrays (:meth:`play`): the :class:`Play` that a
    :class:`PlayRecord` fed the same steps gives (the tests compare the two).

    Plays are numbered ``0, 1, ...`` by the caller; agents are indices into ``agents``. Per
    play and agent, observations and actions must be logged in time order."""

    def __init__(self, agents: Sequence[str]):
        self.agents = list(agents)
        self._observed: list[tuple[np.ndarray, ...]] = []  # (play, agent, env_t, reward)
        self._blocks: list[Any] = []  # observation blocks: arrays of rows, or lists of rows
        self._infos: list[dict | None] = []
        self._acted: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # play, agent, action
        self._extra: list[dict[str, np.ndarray]] = []

    def observe(
        self,
        plays: np.ndarray,
        agents: np.ndarray,
        env_t: np.ndarray,
        rewards: np.ndarray,
        rows: Any,
        infos: list[dict] | None = None,
    ) -> None:
        """Agent ``agents[k]`` of play ``plays[k]`` observes ``rows[k]`` at env step
        ``env_t[k]``, with the reward accumulated since its previous observation (dropped
        at its first) and ``infos[k]`` (default ``{}``); ``rows`` is an array of rows, or a
        sequence of rows (arrays, or dicts of arrays)."""
        self._observed.append((plays, agents, env_t, np.asarray(rewards, dtype=np.float64)))
        self._blocks.append(rows)
        self._infos.extend(infos if infos is not None else [None] * len(rows))

    def act(
        self, plays: np.ndarray, agents: np.ndarray, actions: np.ndarray, extra: dict[str, Any]
    ) -> None:
        """Agent ``agents[k]`` of play ``plays[k]`` takes ``actions[k]`` (with the module
        outputs ``extra[key][k]``)."""
        self._acted.append((plays, agents, actions))
        self._extra.append(extra)

    def close(self, num_plays: int) -> None:
        """Sorts the log by play and agent (time order within each): plays ``0 ..
        num_plays - 1`` can then be read."""
        n = len(self.agents)
        plays, agents, env_t, rewards = (np.concatenate(c) for c in zip(*self._observed))
        order = np.argsort(plays * n + agents, kind="stable")
        self._obs_start, self._obs_count = _groups(plays * n + agents, num_plays * n)
        if all(isinstance(block, np.ndarray) for block in self._blocks):
            observations = np.concatenate(self._blocks)
        else:
            observations = stack_rows([row for block in self._blocks for row in block])
        self._obs = _take(observations, order)
        self._obs_infos = [self._infos[k] for k in order]
        self._obs_t = env_t[order].tolist()
        self._rewards = rewards[order]
        if self._acted:
            plays, agents, actions = (np.concatenate(c) for c in zip(*self._acted))
            keys = set(self._extra[0])
            if any(set(e) != keys for e in self._extra):
                raise ValueError(f"module outputs differ between blocks: {self._extra_keys()}")
            extra = {k: np.concatenate([e[k] for e in self._extra]) for k in self._extra[0]}
        else:
            plays = agents = actions = np.zeros(0, np.int64)
            extra = {}
        order = np.argsort(plays * n + agents, kind="stable")
        self._act_start, self._act_count = _groups(plays * n + agents, num_plays * n)
        self._actions = actions[order]
        self._act_extra = {k: v[order] for k, v in extra.items()}

    def _extra_keys(self) -> list[list[str]]:
        return sorted({tuple(sorted(e)) for e in self._extra})

    def play(self, play: int, env_steps: int, start_time: float, end_time: float) -> Play:
        """Play ``play``, which took ``env_steps`` env steps (after :meth:`close`)."""
        n = len(self.agents)
        seen = [a for a in range(n) if self._obs_count[play * n + a]]
        first_t = {a: self._obs_t[self._obs_start[play * n + a]] for a in seen}
        parts = {}
        for a in sorted(seen, key=lambda a: (first_t[a], a)):
            o, no = self._obs_start[play * n + a], self._obs_count[play * n + a]
            s, ns = self._act_start[play * n + a], self._act_count[play * n + a]
            parts[self.agents[a]] = AgentPart(
                observations=_take(self._obs, slice(o, o + no)),
                infos=[info or {} for info in self._obs_infos[o : o + no]],
                actions=self._actions[s : s + ns],
                rewards=self._rewards[o + 1 : o + no],
                extra={k: v[s : s + ns] for k, v in self._act_extra.items()},
                env_t=self._obs_t[o : o + no],
            )
        return Play(parts, env_steps, start_time, end_time)


def _groups(keys: np.ndarray, num_keys: int) -> tuple[list[int], list[int]]:
    """Where each key's rows start in ``keys`` sorted, and how many there are."""
    counts = np.bincount(keys, minlength=num_keys)
    return (np.cumsum(counts) - counts).tolist(), counts.tolist()


def stack_rows(rows: list[Any]) -> Any:
    """Observations (arrays, or dicts of arrays) stacked along a new first axis."""
    if rows and isinstance(rows[0], dict):
        return {key: np.stack([r[key] for r in rows]) for key in rows[0]}
    return np.stack(rows)


def _take(data: Any, index: Any) -> Any:
    if isinstance(data, dict):
        return {key: value[index] for key, value in data.items()}
    return data[index]


def finish_episode(
    episode: MultiAgentEpisode,
    play: Play,
    terminated: bool = True,
    templates: dict[Any, Any] | None = None,
) -> None:
    """Writes a finished play into ``episode`` (a new, empty episode: not reset, no step
    added), as NumPy arrays; every agent the play observed is mapped to its module through
    ``episode.module_for``, as ``add_env_reset``/``add_env_step`` map it.

    ``templates`` (a dict the caller keeps across calls) holds, per agent, spaces and module
    output keys, the first agent episode built by RLlib's constructor; later agent episodes
    are that one's copies with their own data (:func:`_agent_episode`)."""
    steps = play.env_steps
    agent_episodes = {}
    env_t_to_agent_t = defaultdict(InfiniteLookbackBuffer)
    for agent, part in play.agents.items():
        module = episode.module_for(agent)  # RLlib maps every agent it sees, kept or not
        if not len(part.actions):  # first observed at the end: RLlib keeps no episode for it
            continue
        agent_episodes[agent] = _agent_episode(episode, agent, module, part, terminated, templates)
        timeline: list[Any] = [SKIP] * (steps + 1)
        for k, t in enumerate(part.env_t):
            timeline[t] = k
        env_t_to_agent_t[agent] = _holding(_timeline_template(), timeline)
        episode.agent_t_started[agent] = 0
    episode.agent_episodes = agent_episodes
    episode.env_t_to_agent_t = env_t_to_agent_t
    episode.env_t = episode.env_t_started + steps
    episode.is_terminated = terminated
    episode._start_time = play.start_time
    episode._last_step_time = play.end_time


def _agent_episode(
    episode: MultiAgentEpisode,
    agent: str,
    module: str,
    part: AgentPart,
    terminated: bool,
    templates: dict[Any, Any] | None,
) -> SingleAgentEpisode:
    """One agent's ``SingleAgentEpisode`` of a finished play.

    RLlib's constructor re-derives each buffer's space structure and validates the lengths,
    which costs more than the play; with ``templates``, an episode of the same agent, spaces
    and output keys is copied instead, attribute by attribute, and given this play's data,
    ids and flags (the tests compare both with RLlib's step-by-step episodes)."""
    observations, actions, rewards, extra = (
        part.observations,
        part.actions,
        part.rewards,
        part.extra,
    )
    obs_space, act_space = episode.observation_space[agent], episode.action_space[agent]
    key = (agent, id(obs_space), id(act_space), tuple(extra))
    template = None if templates is None else templates.get(key)
    if template is None:
        made = SingleAgentEpisode(
            observations=observations,
            observation_space=obs_space,
            infos=part.infos,
            actions=actions,
            action_space=act_space,
            rewards=rewards,
            extra_model_outputs=extra,
            terminated=terminated,
            len_lookback_buffer=0,
            agent_id=agent,
            module_id=module,
            multi_agent_episode_id=episode.id_,
        )
        if templates is not None:  # the spaces are kept with it, so their ids stay theirs
            templates[key] = (made, _kept_slots(made), obs_space, act_space)
        return made
    template, kept = template[:2]
    made = object.__new__(SingleAgentEpisode)
    for name in kept:
        setattr(made, name, getattr(template, name))
    made.id_ = os.urandom(16).hex()  # random, as RLlib's uuid4().hex (its version bits aside)
    made.module_id = module
    made.multi_agent_episode_id = episode.id_
    made.observations = _holding(template.observations, observations)
    made.infos = _holding(template.infos, part.infos)
    made.actions = _holding(template.actions, actions)
    made.rewards = _holding(template.rewards, rewards)
    made.extra_model_outputs = {
        k: _holding(template.extra_model_outputs[k], v) for k, v in extra.items()
    }
    made.is_terminated = terminated
    made.is_truncated = False
    made.t_started = 0
    made.t = len(rewards)
    made._custom_data = {}
    return made


_DATA_SLOTS = frozenset(
    {"id_", "module_id", "multi_agent_episode_id", "observations", "infos", "actions"}
    | {"rewards", "extra_model_outputs", "is_terminated", "is_truncated", "t_started", "t"}
    | {"_custom_data"}
)
"""The ``SingleAgentEpisode`` slots :func:`_agent_episode` sets on a copy itself."""


def _kept_slots(episode: SingleAgentEpisode) -> tuple[str, ...]:
    """The slots of ``episode`` (and its classes' bases) that are set and that a copy keeps."""
    names = []
    for base in type(episode).__mro__:
        slots = getattr(base, "__slots__", ())
        names += [slots] if isinstance(slots, str) else list(slots)
    return tuple(n for n in dict.fromkeys(names) if n not in _DATA_SLOTS and hasattr(episode, n))


@functools.cache
def _timeline_template() -> InfiniteLookbackBuffer:
    """An agent's env-step-to-agent-step buffer as RLlib builds it (no space, no lookback):
    its constructor derives the (absent) space's structure, which costs more than a copy."""
    return InfiniteLookbackBuffer([], lookback=0)


def _holding(template: InfiniteLookbackBuffer, data: Any) -> InfiniteLookbackBuffer:
    """A buffer like ``template`` (space, no lookback) holding ``data``. Its attributes are
    set one by one: the instance then keeps them inline, without a dict object of its own
    for the garbage collector to track."""
    buffer = object.__new__(InfiniteLookbackBuffer)
    for name, value in template.__dict__.items():
        setattr(buffer, name, value)
    buffer.data = data
    buffer.lookback = 0
    buffer.finalized = not isinstance(data, list)
    return buffer
