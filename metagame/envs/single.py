"""Any Gymnasium task as a one-player game.

``make("gym:CartPole-v1")`` wraps ``gymnasium.make("CartPole-v1")`` as a PettingZoo Parallel
environment whose only agent is ``player_0``. Spaces are the task's own (continuous action spaces
included); termination and truncation are passed through, and the agent leaves when either is
set. Keyword arguments other than ``render_mode`` go to ``gymnasium.make`` (e.g.
``max_episode_steps``) and to the task's constructor.

A one-player game is the degenerate case of everything else in metagame: the league keeps and
rates snapshots by return, and the solvers' "equilibrium" is the best policy.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

AGENT = "player_0"


@functools.cache
def list_games() -> dict[str, str]:
    """``gym:<id>`` -> description, for every registered Gymnasium task."""
    out = {}
    for env_id, spec in gymnasium.registry.items():
        entry = spec.entry_point if isinstance(spec.entry_point, str) else "callable"
        out[f"gym:{env_id}"] = f"Gymnasium task {env_id} as a one-player game ({entry})"
    return out


def make_gym_env(
    env_id: str,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    disable_env_checker: bool | None = None,
    **kwargs: Any,
) -> GymParallelEnv:
    """Makes the one-player Parallel env for a Gymnasium id (the part after ``gym:``).

    ``max_episode_steps`` (a positive int) and ``disable_env_checker`` go to
    ``gymnasium.make``, the other keywords to the task's constructor; ``render_mode`` must be
    one the task offers. A bad value raises ValueError naming the parameter.
    """
    name = f"gym:{env_id}"
    if env_id not in gymnasium.registry:
        close = difflib.get_close_matches(env_id, list(gymnasium.registry), n=5, cutoff=0.5)
        hint = f"; closest: {', '.join('gym:' + c for c in close)}" if close else ""
        raise ValueError(f"unknown Gymnasium task {env_id!r}{hint}")
    if max_episode_steps is not None and max_episode_steps < 1:
        raise ValueError(
            f"{name}: parameter 'max_episode_steps' must be a positive int, got {max_episode_steps}"
        )
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = int(max_episode_steps)
    if disable_env_checker is not None:
        kwargs["disable_env_checker"] = disable_env_checker
    try:
        env = gymnasium.make(env_id, render_mode=render_mode, **kwargs)
    except TypeError as err:
        raise ValueError(f"{name}: bad parameter: {err}") from None
    except (gymnasium.error.Error, ImportError) as err:  # ImportError: an optional dependency
        raise ValueError(f"{name}: {err}") from None
    modes = env.metadata.get("render_modes", [])
    if render_mode is not None and render_mode not in modes:
        env.close()
        raise ValueError(
            f"{name}: parameter 'render_mode' must be None or one of {modes}, got {render_mode!r}"
        )
    return GymParallelEnv(env, name=name)


class GymParallelEnv(ParallelEnv):
    """A Gymnasium env seen as a one-player PettingZoo Parallel env."""

    def __init__(self, env: gymnasium.Env, name: str):
        self.env = env
        self.render_mode = env.render_mode
        self.metadata = {
            "name": name,
            "render_modes": env.metadata.get("render_modes", []),
            "render_fps": env.metadata.get("render_fps", 30),
            "is_parallelizable": True,
        }
        self.possible_agents = [AGENT]
        self.agents: list[str] = []
        self.observation_spaces = {AGENT: env.observation_space}
        self.action_spaces = {AGENT: env.action_space}

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self.action_spaces[AGENT].seed(seed)
        self.agents = [AGENT]
        return {AGENT: obs}, {AGENT: info}

    def step(self, actions: dict[str, Any]):
        if AGENT not in actions:
            raise ValueError(f"no action given for {AGENT}")
        action = actions[AGENT]
        if isinstance(self.env.action_space, gymnasium.spaces.Box):
            action = np.asarray(action, dtype=self.env.action_space.dtype)
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            self.agents = []
        return (
            {AGENT: obs},
            {AGENT: float(reward)},
            {AGENT: bool(terminated)},
            {AGENT: bool(truncated)},
            {AGENT: info},
        )

    def render(self):
        return self.env.render()

    def close(self) -> None:
        self.env.close()
