"""Trajectory preferences: two episodes of a one-player task, judged by a preference function.

Any single-agent Gymnasium task and a preference function over two trajectories (which may be
non-Markovian and intransitive) make a symmetric two-player zero-sum game: each player plays its
own episode of the task (both from the same seed, so the comparison is fair), and when both have
finished the preference decides the winner. This is the setting of self-play preference
optimisation (Swamy et al., 2024). A player whose episode ended first waits: its actions are
ignored and its observation stays the last one until the other finishes.

Built-in preferences: ``"return"`` (higher return wins) and ``"panel"``, the majority of three
criteria (higher return, fewer action switches, more reward in the second half than the first),
which is intransitive on some triples of trajectories.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
from pettingzoo import ParallelEnv

from metagame.envs.rendered import Rendered


@dataclass
class Trajectory:
    """One player's episode: actions taken and rewards received."""

    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(np.sum(self.rewards))


def prefer_return(a: Trajectory, b: Trajectory) -> float:
    """1 if a's return is higher, 0 if lower, 1/2 on a tie."""
    return 0.5 + 0.5 * float(np.sign(a.total - b.total))


def _switches(t: Trajectory) -> int:
    return sum(not np.array_equal(x, y) for x, y in zip(t.actions, t.actions[1:]))


def _late_share(t: Trajectory) -> float:
    half = len(t.rewards) // 2
    return float(np.sum(t.rewards[half:]) - np.sum(t.rewards[:half]))


def prefer_panel(a: Trajectory, b: Trajectory) -> float:
    """Majority of: higher return, fewer action switches, more late than early reward."""
    votes = [
        np.sign(a.total - b.total),
        np.sign(_switches(b) - _switches(a)),
        np.sign(_late_share(a) - _late_share(b)),
    ]
    return 0.5 + 0.5 * float(np.sign(np.sum(votes)))


PREFERENCES: dict[str, Callable[[Trajectory, Trajectory], float]] = {
    "return": prefer_return,
    "panel": prefer_panel,
}


class TrajectoryPreferenceEnv(Rendered, ParallelEnv):
    metadata = {
        "name": "trajectory_preference_v0",
        "render_modes": ["rgb_array", "human"],
        "render_fps": 4,
    }
    frames_without_mode = True

    def __init__(
        self,
        task: str = "CartPole-v1",
        preference: str | Callable[[Trajectory, Trajectory], float] = "return",
        stochastic: bool = False,
        max_steps: int | None = None,
        render_mode: str | None = None,
    ):
        """``task``: a Gymnasium id; ``preference``: a built-in name or ``f(a, b) -> Pr(a > b)``.

        The reward at the end is +1/-1 drawn from the preference (``stochastic=True``) or its
        expectation 2 Pr(a > b) - 1; ``max_steps`` truncates each episode.
        """
        if isinstance(preference, str):
            if preference not in PREFERENCES:
                raise ValueError(
                    f"unknown preference {preference!r} (built-in: {', '.join(PREFERENCES)})"
                )
            preference = PREFERENCES[preference]
        if not callable(preference):
            raise ValueError("preference must be a built-in name or a callable f(a, b)")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be positive, got {max_steps!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None")
        try:
            self._tasks = [gymnasium.make(task) for _ in range(2)]
        except gymnasium.error.Error as err:
            raise ValueError(f"unknown task {task!r}: {err}") from None
        self.task, self.preference = task, preference
        self.stochastic, self.max_steps, self.render_mode = bool(stochastic), max_steps, render_mode
        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._obs_space = self._tasks[0].observation_space
        self._act_space = self._tasks[0].action_space
        self.trajectories = [Trajectory(), Trajectory()]
        self._finished = [False, False]
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str):
        return self._obs_space

    def action_space(self, agent: str):
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        episode_seed = int(self._rng.integers(2**31 - 1))
        self.agents = list(self.possible_agents)
        self.trajectories = [Trajectory(), Trajectory()]
        self._finished = [False, False]
        self._obs = []
        for k, task in enumerate(self._tasks):
            obs, _ = task.reset(seed=episode_seed)
            task.action_space.seed(episode_seed + k)
            self._obs.append(obs)
        infos = {a: {"finished": False} for a in self.agents}
        return {a: self._obs[k] for k, a in enumerate(self.possible_agents)}, infos

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise ValueError("step() called on a finished game; call reset()")
        for k, agent in enumerate(self.possible_agents):
            if self._finished[k]:
                continue
            if agent not in actions:
                raise ValueError(f"step() lacks an action for {agent}")
            obs, reward, terminated, truncated, _ = self._tasks[k].step(actions[agent])
            traj = self.trajectories[k]
            traj.actions.append(np.copy(actions[agent]))
            traj.rewards.append(float(reward))
            self._obs[k] = obs
            too_long = self.max_steps is not None and len(traj.actions) >= self.max_steps
            self._finished[k] = bool(terminated or truncated or too_long)
        done = all(self._finished)
        r = 0.0
        if done:
            p = float(self.preference(*self.trajectories))
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"preference returned {p}, expected a probability in [0, 1]")
            r = (1.0 if self._rng.random() < p else -1.0) if self.stochastic else 2.0 * p - 1.0
        agents = self.possible_agents
        obs = {a: self._obs[k] for k, a in enumerate(agents)}
        rewards = {agents[0]: r, agents[1]: -r}
        infos = {a: {"finished": self._finished[k]} for k, a in enumerate(agents)}
        return self._end_step(obs, rewards, done, infos)

    def _frame(self) -> np.ndarray:
        from metagame.envs.preference.render import text_panel

        rows = [
            f"{agent}: {len(t.actions)} steps, return {t.total:.2f}"
            + (" (finished)" if done else "")
            for agent, t, done in zip(self.possible_agents, self.trajectories, self._finished)
        ]
        return text_panel(f"{self.task}: trajectory preference", rows)

    def close(self) -> None:
        for task in self._tasks:
            task.close()
        super().close()
