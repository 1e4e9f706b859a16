"""The arena: matches outside RLlib. Seat policies in an environment, play, collect results.

``play(env_name, policies, episodes, seed)`` is what league evaluation and the viewer call. It
works for Parallel (simultaneous-move) and AEC (turn-based) environments, returns per-episode
returns, lengths and outcomes, and can record each episode as a
:class:`metagame.envs.replay.Replay` that re-simulates exactly (episode ``i`` is reset with seed
``seed + i``; every policy is reseeded from it, so episodes reproduce in any order).

Returns are accounted as :func:`metagame.envs.replay.simulate` does: a Parallel env's step
rewards, or an AEC env's ``rewards`` after every move, summed per agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metagame.agents.policy import Policy, split_observation
from metagame.envs.registration import make
from metagame.envs.replay import Replay, to_jsonable


def role(agent: str) -> str:
    """An agent's role: its name without the trailing ``_<index>`` (``pursuer_3`` -> pursuer)."""
    head, sep, tail = str(agent).rpartition("_")
    return head if sep and tail.isdigit() else str(agent)


@dataclass
class PlayResults:
    """Per-episode results; seats are the env's ``possible_agents`` in order.

    ``returns`` is (episodes, seats); ``lengths`` counts joint steps (Parallel) or moves (AEC);
    ``outcomes`` holds the seat with the unique highest return, or -1 for a draw (and always -1
    in a one-player game).
    """

    agents: list[str]
    policies: list[str]
    returns: np.ndarray
    lengths: np.ndarray
    outcomes: np.ndarray
    replays: list[Replay] | None = field(default=None, repr=False)

    @property
    def episodes(self) -> int:
        return len(self.lengths)

    def mean_returns(self) -> np.ndarray:
        return self.returns.mean(axis=0)

    def win_rate(self, seat: int) -> float:
        return float(np.mean(self.outcomes == seat))

    def draw_rate(self) -> float:
        return float(np.mean(self.outcomes == -1))


def assign(agents: Sequence[str], policies: Sequence[Policy] | Mapping[str, Policy]) -> dict:
    """Maps every agent to a policy.

    ``policies`` is a list with one policy per agent (in ``agents`` order) or per role (in order
    of first appearance), or a dict keyed by agent or role names.
    """
    roles = list(dict.fromkeys(role(a) for a in agents))
    if isinstance(policies, Mapping):
        out = {}
        for agent in agents:
            if agent in policies:
                out[agent] = policies[agent]
            elif role(agent) in policies:
                out[agent] = policies[role(agent)]
            else:
                raise ValueError(f"no policy for agent {agent!r} (keys: {sorted(policies)})")
        unknown = set(policies) - set(agents) - set(roles)
        if unknown:
            raise ValueError(f"policies given for unknown agents or roles: {sorted(unknown)}")
        return out
    policies = list(policies)
    if len(policies) == len(agents):
        return dict(zip(agents, policies))
    if len(policies) == len(roles):
        return {a: policies[roles.index(role(a))] for a in agents}
    raise ValueError(
        f"got {len(policies)} policies for {len(agents)} agents ({len(roles)} roles: {roles})"
    )


def _plain(action: Any) -> Any:
    return action.item() if isinstance(action, np.generic) else action


def _reseed(table: dict[str, Policy], seed: int) -> None:
    distinct = list({id(p): p for p in table.values()}.values())
    children = np.random.SeedSequence(seed).spawn(len(distinct))
    for policy, child in zip(distinct, children):
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset(int(child.generate_state(1)[0]))


def _bind(table: dict[str, Policy], env) -> None:
    """Hands the env to policies that plan on its global state (``bind``, e.g. MAPF planners)."""
    for policy in {id(p): p for p in table.values()}.values():
        bind = getattr(policy, "bind", None)
        if callable(bind):
            bind(env)


def _act_group(table: dict[str, Policy], observations: dict[str, Any]) -> dict[str, Any]:
    """One action per agent, one ``act_batch`` call per distinct policy."""
    groups: dict[int, list[str]] = {}
    for agent in observations:
        groups.setdefault(id(table[agent]), []).append(agent)
    actions = {}
    for agents in groups.values():
        pairs = [split_observation(observations[a]) for a in agents]
        masks = [m for _, m in pairs]
        chosen = table[agents[0]].act_batch(
            [o for o, _ in pairs], None if all(m is None for m in masks) else masks
        )
        for agent, action in zip(agents, chosen):
            actions[agent] = _plain(action)
    return actions


def _parallel_episode(env, table, seed: int, record: list | None):
    observations, _ = env.reset(seed=seed)
    _bind(table, env)
    returns = {a: 0.0 for a in env.possible_agents}
    length = 0
    while env.agents:
        actions = _act_group(table, {a: observations[a] for a in env.agents})
        observations, rewards, _, _, _ = env.step(actions)
        for agent, reward in rewards.items():
            returns[agent] = returns.get(agent, 0.0) + float(reward)
        length += 1
        if record is not None:
            record.append(to_jsonable(actions))
    return returns, length


def _aec_episode(env, table, seed: int, record: list | None):
    env.reset(seed=seed)
    _bind(table, env)
    returns = {a: 0.0 for a in env.possible_agents}
    length = 0
    for agent in env.agent_iter():
        observation, _, terminated, truncated, _ = env.last()
        if terminated or truncated:
            action = None
            env.step(None)
        else:
            obs, mask = split_observation(observation)
            action = _plain(table[agent].act(obs, mask))
            env.step(action)
            for a, reward in env.rewards.items():
                returns[a] = returns.get(a, 0.0) + float(reward)
            length += 1
        if record is not None:
            record.append([agent, to_jsonable(action)])
    return returns, length


def play(
    env_name: str,
    policies: Sequence[Policy] | Mapping[str, Policy],
    episodes: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    record: bool = False,
) -> PlayResults:
    """Plays ``episodes`` episodes of ``env_name`` with the given policies.

    ``policies``: a list (one per agent in ``possible_agents`` order, or one per role) or a dict
    keyed by agent or role. Episode ``i`` uses seed ``seed + i``. With ``record=True`` each
    episode is also returned as a Replay.
    """
    if not isinstance(episodes, int | np.integer) or episodes < 1:
        raise ValueError(f"episodes must be a positive int, got {episodes!r}")
    env_kwargs = dict(env_kwargs or {})
    env = make(env_name, **env_kwargs)
    agents = list(env.possible_agents)
    table = assign(agents, policies)
    for agent, policy in table.items():
        if not callable(getattr(policy, "act", None)) or not callable(
            getattr(policy, "act_batch", None)
        ):
            raise ValueError(f"policy for {agent!r} lacks act/act_batch: {policy!r}")
    kind = "aec" if hasattr(env, "agent_iter") else "parallel"
    episode = _aec_episode if kind == "aec" else _parallel_episode
    returns = np.zeros((episodes, len(agents)))
    lengths = np.zeros(episodes, dtype=np.int64)
    replays: list[Replay] | None = [] if record else None
    try:
        for i in range(episodes):
            _reseed(table, seed + i)
            actions: list | None = [] if record else None
            totals, lengths[i] = episode(env, table, seed + i, actions)
            returns[i] = [totals.get(a, 0.0) for a in agents]
            if replays is not None:
                replays.append(
                    Replay(
                        env=env_name,
                        env_kwargs=env_kwargs,
                        seed=seed + i,
                        kind=kind,
                        actions=actions,
                        policies={
                            a: str(getattr(p, "id", type(p).__name__)) for a, p in table.items()
                        },
                        returns={a: float(v) for a, v in totals.items()},
                    )
                )
    finally:
        env.close()
    return PlayResults(
        agents=agents,
        policies=[str(getattr(table[a], "id", type(table[a]).__name__)) for a in agents],
        returns=returns,
        lengths=lengths,
        outcomes=outcomes(returns),
        replays=replays,
    )


def outcomes(returns: np.ndarray) -> np.ndarray:
    """Per row: the column of the unique maximum, or -1 (a tie, or a single column)."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.shape[1] < 2:
        return np.full(len(returns), -1, dtype=np.int64)
    best = returns.max(axis=1, keepdims=True)
    unique = (np.isclose(returns, best)).sum(axis=1) == 1
    return np.where(unique, returns.argmax(axis=1), -1).astype(np.int64)
