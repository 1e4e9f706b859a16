"""Policies that act for a whole MAPF team at once, bound to the env they drive.

A planner or a shared follower network needs every agent's state to choose any agent's move,
so it is a joint policy: ``play`` hands it the env after each reset (``bind``), ``act_batch``
takes the observations of every live agent (in ``env.agents`` order, as ``play`` gives them
when one policy drives the team) and returns their actions, chosen once per env step however
many times it is asked, and ``act`` serves a single live agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

MAPF_STATE = ("topology", "positions", "goals", "active")  # what a MAPF env exposes


class TeamPolicy:
    """Base of the joint MAPF policies: subclasses choose in ``_team_actions``."""

    _env = None
    _step: tuple[int, int] | None = None
    _chosen: Mapping[str, int] | None = None

    def _team_actions(
        self, env: Any, observations: Sequence, action_masks: Sequence | None
    ) -> Mapping[str, int]:
        """Every live agent's action at the env's current step."""
        raise NotImplementedError

    def _check_env(self, env: Any) -> None:
        if not all(hasattr(env, name) for name in MAPF_STATE):
            raise ValueError(
                f"{type(self).__name__} drives MAPF envs only, got {type(env).__name__}"
            )

    def bind(self, env: Any) -> None:
        """The env whose agents this policy drives (``play`` calls it after each reset)."""
        self._check_env(env)
        self._env = env
        self._step = None

    def _bound(self) -> Any:
        if self._env is None:
            raise ValueError(
                f"{type(self).__name__}: bind(env) first (play does it after each reset)"
            )
        return self._env

    def act_batch(self, observations: Sequence, action_masks: Sequence | None = None) -> np.ndarray:
        """The actions of every live agent of the bound env, in ``env.agents`` order."""
        env = self._bound()
        if len(observations) != len(env.agents):
            raise ValueError(
                f"{type(self).__name__} acts for the whole team: act_batch needs the observations "
                f"of all {len(env.agents)} live agents, got {len(observations)}"
            )
        key = (id(env), int(env.timestep))
        if self._step != key:
            self._chosen = self._team_actions(env, observations, action_masks)
            self._step = key
        return np.array([self._chosen[a] for a in env.agents], dtype=np.int64)

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        """The action of the one live agent (a joint policy cannot tell agents apart)."""
        env = self._bound()
        if len(env.agents) != 1:
            raise ValueError(
                f"{type(self).__name__}.act serves a single live agent, the env has "
                f"{len(env.agents)}: use act_batch with every live agent's observation"
            )
        masks = None if action_mask is None else [action_mask]
        return int(self.act_batch([observation], masks)[0])
