"""A finished turn-based play written into RLlib's ``MultiAgentEpisode`` in one go.

RLlib builds an episode step by step (``add_env_step``), re-validating its per-agent
bookkeeping at every step, then converts it to NumPy (``to_numpy``); for a game of a few moves
that costs more than playing it. :class:`PlayRecord` collects what each agent saw and did
during a play, and :func:`finish_episode` writes it into the episode at the end, already as
NumPy arrays: the same ``MultiAgentEpisode`` state (its fields are those of
``MultiAgentEpisode.get_state``) that ``add_env_reset``, one ``add_env_step`` per step and
``to_numpy`` would have produced (the tests compare the two), without the per-step copies and
validations.

A turn-based play, as :class:`metagame.agents.rllib.env.MultiAgentAdapter` reports it: at each
env step one agent acts; the next acting agent observes (with the reward it accumulated since
its last observation); at the last step every agent observes its final observation and reward.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.env.utils.infinite_lookback_buffer import InfiniteLookbackBuffer

SKIP = "S"  # RLlib's marker of an env step at which an agent did not observe


@dataclass
class AgentRecord:
    """One agent's part of a play: observations (with infos), then per action its outputs
    and the reward received at the next observation; ``env_t`` its observation times."""

    observations: list[Any] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    extra: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    env_t: list[int] = field(default_factory=list)


class PlayRecord:
    """A play in progress: every agent's :class:`AgentRecord` and the env steps taken."""

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


def finish_episode(
    episode: MultiAgentEpisode,
    play: PlayRecord,
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
    for agent, record in play.agents.items():
        module = episode.module_for(agent)  # RLlib maps every agent it sees, kept or not
        if not record.actions:  # first observed at the end: RLlib keeps no episode for it
            continue
        agent_episodes[agent] = _agent_episode(
            episode, agent, module, record, terminated, templates
        )
        timeline: list[Any] = [SKIP] * (steps + 1)
        for k, t in enumerate(record.env_t):
            timeline[t] = k
        env_t_to_agent_t[agent] = InfiniteLookbackBuffer(timeline, lookback=0)
        episode.agent_t_started[agent] = 0
    episode.agent_episodes = agent_episodes
    episode.env_t_to_agent_t = env_t_to_agent_t
    episode.env_t = episode.env_t_started + steps
    episode.is_terminated = terminated
    episode._start_time = play.start_time
    episode._last_step_time = time.perf_counter()


def _agent_episode(
    episode: MultiAgentEpisode,
    agent: str,
    module: str,
    record: AgentRecord,
    terminated: bool,
    templates: dict[Any, Any] | None,
) -> SingleAgentEpisode:
    """One agent's ``SingleAgentEpisode`` of a finished play.

    RLlib's constructor re-derives each buffer's space structure and validates the lengths,
    which costs more than the play; with ``templates``, an episode of the same agent, spaces
    and output keys is copied instead, attribute by attribute, and given this play's data,
    ids and flags (the tests compare both with RLlib's step-by-step episodes)."""
    observations = np.stack(record.observations)
    actions = np.asarray(record.actions)
    rewards = np.asarray(record.rewards, dtype=np.float64)
    extra = {k: np.asarray(v) for k, v in record.extra.items()}
    obs_space, act_space = episode.observation_space[agent], episode.action_space[agent]
    key = (agent, id(obs_space), id(act_space), tuple(extra))
    template = None if templates is None else templates.get(key)
    if template is None:
        made = SingleAgentEpisode(
            observations=observations,
            observation_space=obs_space,
            infos=record.infos,
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
    made.id_ = uuid.uuid4().hex
    made.module_id = module
    made.multi_agent_episode_id = episode.id_
    made.observations = _holding(template.observations, observations)
    made.infos = _holding(template.infos, record.infos)
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


def _holding(template: InfiniteLookbackBuffer, data: Any) -> InfiniteLookbackBuffer:
    """A buffer like ``template`` (space, no lookback) holding ``data``."""
    buffer = object.__new__(InfiniteLookbackBuffer)
    buffer.__dict__.update(template.__dict__)
    buffer.data = data
    buffer.lookback = 0
    buffer.finalized = not isinstance(data, list)
    return buffer
