"""Grid multi-agent path finding as a PettingZoo Parallel environment.

Agents ``player_0..n-1`` move on a map (a bundled Moving AI map name, a ``.map`` path, a
boolean array with True = blocked, or an undirected networkx graph) with actions ``0 wait,
1 up, 2 down, 3 left, 4 right`` (on general graphs, ``k >= 1`` moves to the k-th neighbour).
Moves into walls are masked in ``action_mask`` and, if taken, are waits. Conflicts are resolved
by :func:`metagame.envs.mapf.core.resolve`: every agent in a vertex or swap conflict waits,
repeated to a fixed point, so agents never share a cell, swap, or vanish.

``on_target``:
- ``"stay"`` (one-shot MAPF): the episode succeeds, and every agent terminates, when all agents
  stand on their goals at once;
- ``"finish"``: an agent leaves the map (terminates) the step it reaches its goal; one that
  starts on its goal has arrived at step 0 and is off the map from ``reset`` on (it is not in
  ``agents``; when every agent starts on its goal the episode is over at step 0);
- ``"restart"`` (lifelong MAPF): a reached goal is replaced by the next one from
  ``goal_sequence`` (cycled) or, by default, a cell drawn by the seeded RNG from the agent's
  connected component.

Rewards: ``goal_reward`` the step an agent reaches a goal, minus ``step_cost`` for every step it
ends off its goal. Observations: ``{"observation": float32 (4, 2R+1, 2R+1), "action_mask":
int8 (A,)}`` (channels in :mod:`metagame.envs.mapf.core`); ``state()`` is the global float32
``(3, H, W)`` stack of obstacles, agents and goals. The final step's infos carry
``"metrics"`` (:mod:`metagame.envs.mapf.metrics`); ``metrics()`` returns them at any time.
"""

from __future__ import annotations

from itertools import compress
from typing import Any, Literal

import networkx as nx
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from metagame.envs.mapf import core, maps, metrics
from metagame.envs.masking import masked_space
from metagame.envs.rendered import Rendered


class MAPFEnv(Rendered, ParallelEnv):
    metadata = {
        "name": "mapf_v0",
        "render_modes": ["rgb_array", "human"],
        "render_fps": 8,
        "is_parallelizable": True,
    }

    def __init__(
        self,
        map: str | np.ndarray | nx.Graph | None = None,
        num_agents: int = 8,
        on_target: Literal["stay", "finish", "restart"] = "stay",
        obs_radius: int = 5,
        max_steps: int = 256,
        goal_reward: float = 1.0,
        step_cost: float = 0.0,
        scenario: str | None = None,
        starts: np.ndarray | None = None,
        goals: np.ndarray | None = None,
        goal_sequence: np.ndarray | None = None,
        seed: int | None = None,
        render_mode: Literal["rgb_array", "human"] | None = None,
    ):
        if on_target not in ("stay", "finish", "restart"):
            raise ValueError(f"on_target must be 'stay', 'finish' or 'restart', got {on_target!r}")
        if render_mode not in (None, "rgb_array", "human"):
            raise ValueError(f"render_mode must be None, 'rgb_array' or 'human', got {render_mode}")
        for name, value in (("goal_reward", goal_reward), ("step_cost", step_cost)):
            if not isinstance(value, int | float | np.integer | np.floating) or not np.isfinite(
                value
            ):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        for name, value in (("obs_radius", obs_radius), ("max_steps", max_steps)):
            if int(value) < (0 if name == "obs_radius" else 1):
                raise ValueError(f"{name} must be positive, got {value}")
        if scenario is not None:
            if starts is not None or goals is not None:
                raise ValueError("give either scenario or starts/goals, not both")
            scen_map, starts, goals = maps.load_scenario(scenario, num_agents)
            map = scen_map if map is None else map
        self.topology = maps.resolve("random-32-32-10" if map is None else map)
        topo = self.topology
        if num_agents < 1 or num_agents > topo.num_vertices:
            raise ValueError(
                f"num_agents must lie in [1, {topo.num_vertices}] (free cells), got {num_agents}"
            )
        self.grid: np.ndarray = topo.grid
        self.on_target = on_target
        self.obs_radius = int(obs_radius)
        self.max_steps = int(max_steps)
        self.goal_reward = float(goal_reward)
        self.step_cost = float(step_cost)
        self.render_mode = render_mode
        self._rng = np.random.default_rng(seed)
        self._n = int(num_agents)
        self._fixed = self._check_placement(starts, goals)
        self._sequence = self._check_sequence(goal_sequence)
        self._by_component = [
            np.flatnonzero(topo.component == k) for k in range(int(topo.component.max()) + 1)
        ]
        self.possible_agents = [f"player_{i}" for i in range(self._n)]
        self.agent_roles = dict.fromkeys(self.possible_agents, "agent")  # one team (the league)
        size = 2 * self.obs_radius + 1
        grid_view = spaces.Box(0.0, 1.0, (core.NUM_CHANNELS, size, size), np.float32)
        self._obs_space = masked_space(grid_view, topo.num_actions)
        self._act_space = spaces.Discrete(topo.num_actions)
        self.state_space = spaces.Box(0.0, 1.0, (3, *self.grid.shape), np.float32)
        self._blocked = core.padded_obstacles(self.grid, self.obs_radius)
        self._waits = [0] * self._n
        self._vertex_masks = list((topo.moves >= 0).astype(np.int8))
        for m in self._vertex_masks:
            m.setflags(write=False)
        self._renderer = None
        self._templates_for: list[str] | None = None
        self._templates: dict[tuple[type, Any], dict[str, Any]] = {}
        self.agents: list[str] = []
        self._reset_arrays(*self._placement())

    # --- spaces ---

    def observation_space(self, agent: str) -> spaces.Dict:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    # --- public state ---

    @property
    def positions(self) -> np.ndarray:
        """``(num_agents, 2)`` (row, col) of every agent (finished agents: where they left)."""
        return self.topology.cells[self._pos].copy()

    @property
    def goals(self) -> np.ndarray:
        """``(num_agents, 2)`` (row, col) of every agent's current goal."""
        return self.topology.cells[self._goal].copy()

    @property
    def active(self) -> np.ndarray:
        """``(num_agents,)`` bool: which agents are on the map."""
        return self._active.copy()

    @property
    def timestep(self) -> int:
        return self._t

    def state(self) -> np.ndarray:
        h, w = self.grid.shape
        out = np.zeros((3, h, w), dtype=np.float32)
        out[0] = self.grid
        cells = self.topology.cells
        out[1][tuple(cells[self._pos[self._active]].T)] = 1.0
        out[2][tuple(cells[self._goal[self._active]].T)] = 1.0
        return out

    def metrics(self) -> dict[str, float]:
        if self.on_target == "restart":
            return metrics.lifelong(self._reached, self._t)
        return metrics.one_shot(self._arrival, self._t)

    # --- episode ---

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._reset_arrays(*self._placement())
        self.agents = list(compress(self.possible_agents, self._active.tolist()))
        obs, _ = self._observe()
        live = None if len(self.agents) == self._n else self._active.copy()
        return self._obs_dict(self.agents, obs, live), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise ValueError("step() called on a finished episode; call reset()")
        agents = self.agents
        chosen = np.fromiter(map(actions.get, agents, self._waits), np.int64, len(agents))
        if len(agents) == self._n:
            live, act = None, chosen
        else:  # the agents on the map are the active rows, in order
            live = self._active.copy()
            act = np.zeros(self._n, dtype=np.int64)
            act[live] = chosen
        self._check_range(act)
        obs, _, reward, terminated, truncated = self._advance(act)
        out = self._obs_dict(agents, obs, live)
        if live is not None:
            reward, terminated = reward[live], terminated[live]
        rewards = self._per_agent(agents, reward)
        terms = self._per_agent(agents, terminated)
        truncs = self._fill(agents, truncated)
        infos: dict[str, dict[str, Any]] = {a: {} for a in agents}
        if not self.agents:
            result = self.metrics()
            for a in agents:
                infos[a]["metrics"] = result
        return out, rewards, terms, truncs, infos

    def step_arrays(self, actions: np.ndarray):
        """Array form of :meth:`step` for batch learners: one row per agent (all of them).

        ``actions`` is ``(num_agents,)`` int (rows of agents off the map are ignored). Returns
        ``(observation (n, 4, S, S) float32, action_mask (n, A) int8, reward (n,) float,
        terminated (n,) bool, truncated bool)``; rows of agents that left earlier are zero.
        """
        if not self.agents:
            raise ValueError("step_arrays() called on a finished episode; call reset()")
        act = np.asarray(actions)
        if act.shape != (self._n,) or not np.issubdtype(act.dtype, np.integer):
            raise ValueError(f"actions must be an int array of shape ({self._n},), got {act.shape}")
        self._check_range(act)
        return self._advance(act)

    def _check_range(self, act: np.ndarray) -> None:
        if act.min() < 0 or act.max() >= self.topology.num_actions:
            raise ValueError(f"actions must lie in [0, {self.topology.num_actions}), got {act}")

    def _advance(self, act: np.ndarray):
        """:meth:`step_arrays` after its checks."""
        live, before = self._active, self._pos
        self._pos = core.step(before, act, self.topology.moves, live)
        self._t += 1
        on_goal = self._pos == self._goal
        # Goals are single vertices and agents off the map never move: arriving is a move
        # that ends on the goal.
        arrived = on_goal & (self._pos != before)
        reward = self.goal_reward * arrived
        if self.step_cost:
            reward -= self.step_cost * (live & ~on_goal)
        terminated = np.zeros(self._n, dtype=bool)
        if self.on_target == "stay":
            self._arrival[arrived] = self._t
            self._arrival[~on_goal] = -1
            terminated[:] = on_goal.all()
        elif self.on_target == "finish":
            self._arrival[arrived] = self._t
            terminated = arrived
        elif arrived.any():
            self._reached[arrived] += 1
            self._next_goals(np.flatnonzero(arrived))
        truncated = self._t >= self.max_steps
        obs, mask = self._observe()
        if self.on_target == "finish":
            self._active[arrived] = False
        if truncated or terminated.all():
            self.agents = []
        elif terminated.any():  # "finish": arrivals leave
            self.agents = list(compress(self.possible_agents, self._active.tolist()))
        return obs, mask, reward, terminated, truncated

    caption = "mapf"

    def _frame(self) -> np.ndarray:
        from metagame.envs.mapf import render

        if self._renderer is None:
            self._renderer = render.Renderer(self.grid, self._n)
        cells = self.topology.cells
        frame = self._renderer(cells[self._pos], cells[self._goal], self._active)
        return np.vstack([frame, render.legend(frame.shape[1], self)])

    # --- internals ---

    def _obs_dict(
        self, agents: list[str], obs: np.ndarray, live: np.ndarray | None = None
    ) -> dict[str, dict[str, np.ndarray]]:
        """Per-agent dicts for ``agents`` (the rows where ``live``, default all): views of the
        batch ``obs`` (fresh each step, so never overwritten) and, as masks depend on the
        vertex only, the read-only mask of the agent's vertex."""
        masks = self._vertex_masks
        if live is None:
            views, pos = list(obs), self._pos
        else:
            views, pos = compress(obs, live.tolist()), self._pos[live]
        return {
            a: {"observation": o, "action_mask": masks[v]}
            for a, o, v in zip(agents, views, pos.tolist())
        }

    def _per_agent(self, agents: list[str], values: np.ndarray) -> dict[str, Any]:
        """``{agent: value}`` with Python scalars; ``values`` has one entry per agent."""
        first = values[0].item()
        if (values == first).all():  # the common case: nobody arrived or terminated
            return self._fill(agents, first)
        return dict(zip(agents, values.tolist()))

    def _fill(self, agents: list[str], value: Any) -> dict[str, Any]:
        """``dict.fromkeys(agents, value)``, copied from a template cached per agent list."""
        if self._templates_for is not agents:
            self._templates_for, self._templates = agents, {}
        key = (type(value), value)  # False and 0.0 are equal keys, but not the same reward
        if key not in self._templates:
            self._templates[key] = dict.fromkeys(agents, value)
        return self._templates[key].copy()

    def _observe(self) -> tuple[np.ndarray, np.ndarray]:
        topo = self.topology
        return core.observe(
            self._pos,
            self._goal,
            self._active,
            topo.cells,
            self._blocked,
            topo.moves,
            self._dist,
            self.obs_radius,
        )

    def _reset_arrays(self, start: np.ndarray, goal: np.ndarray) -> None:
        self._pos = start.copy()
        self._goal = goal.copy()
        # with "finish", agents that start on their goal have already left
        self._active = (start != goal) if self.on_target == "finish" else np.ones(self._n, bool)
        self._t = 0
        self._arrival = np.where(start == goal, 0, -1)
        self._reached = np.zeros(self._n, dtype=np.int64)
        self._goal_index = np.zeros(self._n, dtype=np.int64)
        self._dist = np.empty((self._n, self.topology.num_vertices), dtype=np.int32)
        core.goal_distances(self.topology.moves, self._goal, self._dist, np.arange(self._n))

    def _check_placement(self, starts, goals):
        if starts is None and goals is None:
            return None
        if starts is None or goals is None:
            raise ValueError("give both starts and goals, or neither")
        topo = self.topology
        s = topo.vertices(np.asarray(starts), "starts")
        g = topo.vertices(np.asarray(goals), "goals")
        if len(s) != self._n or len(g) != self._n:
            raise ValueError(
                f"starts and goals must have num_agents={self._n} rows, got {len(s)}, {len(g)}"
            )
        if len(np.unique(s)) != len(s):
            raise ValueError("starts: two agents share a start cell")
        if self.on_target != "restart" and len(np.unique(g)) != len(g):
            raise ValueError("goals: two agents share a goal cell")
        unreachable = topo.component[s] != topo.component[g]
        if unreachable.any():
            raise ValueError(f"goals: agent {int(np.argmax(unreachable))} cannot reach its goal")
        return s, g

    def _check_sequence(self, sequence):
        if sequence is None:
            return None
        if self.on_target != "restart":
            raise ValueError("goal_sequence applies to on_target='restart' only")
        seq = np.asarray(sequence)
        if seq.ndim != 3 or seq.shape[0] != self._n or seq.shape[2] != 2 or seq.shape[1] < 1:
            raise ValueError(f"goal_sequence must have shape (num_agents, K, 2), got {seq.shape}")
        verts = self.topology.vertices(seq.reshape(-1, 2), "goal_sequence").reshape(seq.shape[:2])
        return verts

    def _placement(self) -> tuple[np.ndarray, np.ndarray]:
        topo = self.topology
        if self._fixed is not None:
            start, goal = self._fixed
        else:
            start = self._rng.choice(topo.num_vertices, self._n, replace=False)
            goal = np.empty(self._n, dtype=np.int64)
            comp = topo.component[start]
            for k in np.unique(comp):
                members = np.flatnonzero(comp == k)
                goal[members] = self._rng.choice(self._by_component[k], len(members), replace=False)
        if self._sequence is not None:
            goal = self._sequence[:, 0]
            bad = topo.component[goal] != topo.component[start]
            if bad.any():
                raise ValueError(f"goal_sequence: agent {int(np.argmax(bad))} cannot reach goal 0")
        return np.asarray(start, dtype=np.int64), np.asarray(goal, dtype=np.int64)

    def _next_goals(self, agents: np.ndarray) -> None:
        """New goals for agents that reached theirs; never the vertex an agent stands on
        (a sequence skips such entries; a one-vertex component keeps its goal)."""
        topo = self.topology
        for i in agents:
            here = self._pos[i]
            if self._sequence is not None:
                k, goal = self._goal_index[i], here
                for _ in range(self._sequence.shape[1]):
                    k = (k + 1) % self._sequence.shape[1]
                    goal = self._sequence[i, k]
                    if goal != here:
                        break
                self._goal_index[i] = k
                if topo.component[goal] != topo.component[here]:
                    raise ValueError(f"goal_sequence: agent {i} cannot reach its next goal")
            else:
                pool = self._by_component[topo.component[here]]
                if len(pool) == 1:
                    continue
                k = self._rng.integers(len(pool) - 1)
                goal = pool[k + (k >= np.searchsorted(pool, here))]
            self._goal[i] = goal
        core.goal_distances(topo.moves, self._goal, self._dist, agents)
