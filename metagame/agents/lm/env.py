"""The token duel as an RLlib ``MultiAgentEnv``: only players still writing observe and act.

A player that has ended its response gets no observation (so takes no action) until the duel
ends; then every player observes its final state and receives its SPO reward.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.env.multi_agent_env import MultiAgentEnv

from metagame.envs.preference.duel import LLMDuelEnv


class DuelMultiAgentEnv(MultiAgentEnv):
    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__()
        self.duel = LLMDuelEnv(**dict(config or {}))
        self.possible_agents = list(self.duel.possible_agents)
        self.agents = list(self.possible_agents)
        self.observation_spaces = {a: self.duel.observation_space(a) for a in self.agents}
        self.action_spaces = {a: self.duel.action_space(a) for a in self.agents}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.duel.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return obs, infos

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terminations, truncations, infos = self.duel.step(action_dict)
        if not self.duel.agents:
            self.agents = []
            return (
                obs,
                rewards,
                {**terminations, "__all__": True},
                {**truncations, "__all__": False},
                infos,
            )
        writing = [a for a in self.possible_agents if not infos[a]["finished"]]
        self.agents = writing
        pick = lambda d: {a: d[a] for a in writing}  # noqa: E731
        return (
            pick(obs),
            pick(rewards),
            {**pick(terminations), "__all__": False},
            {**pick(truncations), "__all__": False},
            pick(infos),
        )
