"""The preference game: a symmetric two-player zero-sum game over n candidates.

Each round both players pick a candidate at once; player_0's pick a beats player_1's pick b with
probability P[a, b]. The reward is a Bernoulli draw (+1 to the winner, -1 to the loser) or, with
``stochastic=False``, its expectation 2 P[a, b] - 1. The game's payoff matrix is A = P - 1/2
(``tabular()``), whose maximin mixture is the minimax winner; self-play on this game is SPO
(Swamy et al., 2024, "A Minimaximalist Approach to Reinforcement Learning from Human Feedback").

Observation: one-hot of both players' previous picks (own first; zeros before the first round).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from metagame._arrays import as_preference_matrix
from metagame.envs.preference.models import cyclic_panel
from metagame.envs.rendered import Rendered


class PreferenceGameEnv(Rendered, ParallelEnv):
    metadata = {"name": "preference_v0", "render_modes": ["rgb_array", "human"], "render_fps": 2}
    frames_without_mode = True

    def __init__(
        self,
        P: Any = None,
        candidates: list[str] | None = None,
        stochastic: bool = True,
        rounds: int = 1,
        render_mode: str | None = None,
    ):
        """``P`` defaults to the 3-candidate Condorcet cycle ``cyclic_panel(3)``."""
        self.P = as_preference_matrix(cyclic_panel(3) if P is None else P)
        n = self.P.shape[0]
        self.candidates = list(candidates) if candidates is not None else [str(i) for i in range(n)]
        if len(self.candidates) != n:
            raise ValueError(f"candidates must name {n} candidates, got {len(self.candidates)}")
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.stochastic, self.rounds, self.render_mode = bool(stochastic), rounds, render_mode
        self.possible_agents = ["player_0", "player_1"]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, shape=(2 * n,), dtype=np.float32)
        self._act_space = spaces.Discrete(n)
        self.last: tuple[int, int] | None = None
        self.counts = np.zeros((n, n), dtype=np.int64)
        self._rng = np.random.default_rng()

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def tabular(self) -> dict[str, np.ndarray]:
        """``P``; the zero-sum payoff ``A = P - 1/2`` for player_0 (the solvers' input); and
        ``rewards``, player_0's expected reward per round, 2 A."""
        return {"P": self.P.copy(), "A": self.P - 0.5, "rewards": 2.0 * self.P - 1.0}

    def _observe(self) -> dict[str, np.ndarray]:
        n = self.P.shape[0]
        obs = {a: np.zeros(2 * n, dtype=np.float32) for a in self.possible_agents}
        if self.last is not None:
            for k, agent in enumerate(self.possible_agents):
                obs[agent][self.last[k]] = 1.0
                obs[agent][n + self.last[1 - k]] = 1.0
        return obs

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.last, self._round = None, 0
        self.counts[:] = 0
        return self._observe(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise ValueError("step() called on a finished game; call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step() lacks actions for {', '.join(missing)}")
        a, b = (int(actions[agent]) for agent in self.possible_agents)
        n = self.P.shape[0]
        if not (0 <= a < n and 0 <= b < n):
            raise ValueError(f"actions must lie in [0, {n}), got {a}, {b}")
        p = self.P[a, b]
        r = (1.0 if self._rng.random() < p else -1.0) if self.stochastic else 2.0 * p - 1.0
        self.last, self._round = (a, b), self._round + 1
        self.counts[a, b] += 1
        done = self._round >= self.rounds
        agents = self.possible_agents
        rewards = {agents[0]: r, agents[1]: -r}
        infos = {
            agent: {"win_probability": float(p if k == 0 else 1 - p)}
            for k, agent in enumerate(agents)
        }
        return self._end_step(self._observe(), rewards, done, infos)

    def _frame(self) -> np.ndarray:
        from metagame.envs.preference.render import preference_frame

        return preference_frame(self.P, self.candidates, self.last, self.counts)
