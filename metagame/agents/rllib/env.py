"""Any metagame environment as an RLlib (new API stack) environment.

- Parallel envs become a ``MultiAgentEnv`` stepping every live agent; agents may leave
  (``terminateds[agent]``) and arrive (a first observation) mid-episode; the episode ends when
  ``env.agents`` is empty.
- AEC (turn-based) envs become a ``MultiAgentEnv`` in which only the acting agent observes and
  acts; an agent's reward is what PettingZoo accumulated for it since its previous turn
  (``last()``), so every reward reaches its agent exactly once, and at the end every agent
  receives its final observation and reward.
- One-player envs (``gym:``) become a plain ``gymnasium.Env`` so that RLlib's single-agent
  runner (and SAC/DQN) apply directly.

Observations go through :class:`metagame.agents.rllib.encoding.ObservationCodec` (one-hot,
flatten, channels-last grids, ``{"observations", "action_mask"}``). Illegal actions never reach
the env as a penalty: the masked modules give them zero probability, and the env itself rejects
them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import gymnasium as gym
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from metagame.agents.rllib.encoding import ObservationCodec
from metagame.envs.registration import make
from metagame.envs.replay import to_jsonable


def is_aec(env: Any) -> bool:
    return hasattr(env, "agent_iter")


def is_single_agent(env: Any) -> bool:
    return not is_aec(env) and len(env.possible_agents) == 1


class MultiAgentAdapter(MultiAgentEnv):
    """A metagame Parallel or AEC env as an RLlib ``MultiAgentEnv``."""

    def __init__(self, env_name: str, env_kwargs: dict[str, Any] | None = None):
        super().__init__()
        self.env = make(env_name, **(env_kwargs or {}))
        self.aec = is_aec(self.env)
        self.possible_agents = list(self.env.possible_agents)
        self.agents = list(self.possible_agents)
        self.codecs = {a: ObservationCodec(self.env.observation_space(a)) for a in self.agents}
        self.observation_spaces = {a: c.space for a, c in self.codecs.items()}
        self.action_spaces = {a: self.env.action_space(a) for a in self.possible_agents}

    def _encode(self, observations: dict[str, Any]) -> dict[str, Any]:
        return {a: self.codecs[a].encode(o) for a, o in observations.items()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.aec:
            self.env.reset(seed=seed, options=options)
            obs, rewards, terminateds, truncateds, infos = self._advance()
            return obs, infos
        observations, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.env.agents)
        return self._encode(observations), {a: infos.get(a, {}) for a in observations}

    def step(self, action_dict: dict[str, Any]):
        if self.aec:
            self.env.step(action_dict[self.env.agent_selection])
            return self._advance()
        observations, rewards, terminations, truncations, infos = self.env.step(action_dict)
        self.agents = self._present(observations)
        done = not self.env.agents
        truncated_all = done and any(truncations.values())
        terminateds = {a: bool(t) for a, t in terminations.items()}
        truncateds = {a: bool(t) for a, t in truncations.items()}
        terminateds["__all__"] = done and not truncated_all
        truncateds["__all__"] = truncated_all
        return (
            self._encode(observations),
            {a: float(r) for a, r in rewards.items()},
            terminateds,
            truncateds,
            {a: infos.get(a, {}) for a in observations},
        )

    def _advance(self):
        """Collects what the agents see until one must act (or everyone has left)."""
        env = self.env
        obs, rewards, terminateds, truncateds, infos = {}, {}, {}, {}, {}
        truncated_any = False
        while env.agents:
            agent = env.agent_selection
            observation, reward, terminated, truncated, info = env.last()
            obs[agent] = self.codecs[agent].encode(observation)
            rewards[agent] = rewards.get(agent, 0.0) + float(reward)
            terminateds[agent], truncateds[agent] = bool(terminated), bool(truncated)
            infos[agent] = info
            if not (terminated or truncated):
                break
            truncated_any |= bool(truncated)
            env.step(None)
        self.agents = self._present(obs)
        done = not env.agents
        terminateds["__all__"] = done and not truncated_any
        truncateds["__all__"] = done and truncated_any
        return obs, rewards, terminateds, truncateds, infos

    def _present(self, observations: dict[str, Any]) -> list[str]:
        """The agents in the episode after a step: those still playing and those that receive
        their final observation now (RLlib checks that every observed agent is present, also
        when a one-shot game ends on its first step)."""
        return list(dict.fromkeys([*self.env.agents, *observations]))

    def close(self) -> None:
        self.env.close()


class SingleAgentAdapter(gym.Env):
    """A metagame one-player Parallel env as a ``gymnasium.Env``."""

    def __init__(self, env_name: str, env_kwargs: dict[str, Any] | None = None):
        self.env = make(env_name, **(env_kwargs or {}))
        (self.agent,) = self.env.possible_agents
        self.codec = ObservationCodec(self.env.observation_space(self.agent))
        self.observation_space = self.codec.space
        self.action_space = self.env.action_space(self.agent)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observations, infos = self.env.reset(seed=seed, options=options)
        return self.codec.encode(observations[self.agent]), infos.get(self.agent, {})

    def step(self, action: Any):
        a = self.agent
        observations, rewards, terminations, truncations, infos = self.env.step({a: action})
        return (
            self.codec.encode(observations[a]),
            float(rewards[a]),
            bool(terminations[a]),
            bool(truncations[a]),
            infos.get(a, {}),
        )

    def close(self) -> None:
        self.env.close()


def env_id(env_name: str, env_kwargs: dict[str, Any] | None = None) -> str:
    """The Tune registry id of a game with kwargs: ``metagame:<name>[#<hash of kwargs>]``."""
    if not env_kwargs:
        return f"metagame:{env_name}"
    blob = json.dumps(to_jsonable(env_kwargs), sort_keys=True, default=repr)
    return f"metagame:{env_name}#{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def register_env(env_name: str, env_kwargs: dict[str, Any] | None = None) -> str:
    """Registers the game with Ray Tune (for RLlib's env runners) and returns its id.

    The game is made once here, so an unknown name or bad kwargs raise ValueError at once.
    """
    from ray.tune.registry import register_env as tune_register

    kwargs = dict(env_kwargs or {})
    single = is_single_agent(make(env_name, **kwargs))
    cls = SingleAgentAdapter if single else MultiAgentAdapter
    name = env_id(env_name, kwargs)
    tune_register(name, lambda _config: cls(env_name, kwargs))
    return name
