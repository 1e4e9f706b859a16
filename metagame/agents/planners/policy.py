"""Planners as a joint policy for :class:`~metagame.envs.mapf.env.MAPFEnv`.

Planners need the global state, so the policy is joint rather than per-agent::

    policy = PlannerPolicy("lacam")
    obs, _ = env.reset(seed=0)
    while env.agents:
        env.step(policy.actions(env))

``"pibt"`` takes one PIBT step per call with priorities kept across calls (lifelong PIBT).
Other methods plan once and follow the plan, replanning from the current state whenever it
stops matching (a goal changed in lifelong mode, an agent left in finish mode, or a
deviation). If lifelong goals are not distinct (no joint plan can end there), that step is a
PIBT step.
"""

from __future__ import annotations

import numpy as np

from metagame.agents.planners.instance import Instance, make_instance
from metagame.agents.planners.pibt import pibt_step, step, update_priorities


class PlannerPolicy:
    """Drives a MAPF env with a planner: ``actions(env) -> {agent: action}``."""

    def __init__(self, method: str = "lacam", time_limit: float = 10.0, seed: int = 0):
        from metagame.agents.planners import METHODS

        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
        self.method = method
        self.time_limit = time_limit
        self.id = f"planner:{method}"
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed if seed is not None else 0)
        self._seed = seed or 0
        self._plan: np.ndarray | None = None
        self._goals: np.ndarray | None = None
        self._t = 0
        self._priority: np.ndarray | None = None

    def actions(self, env) -> dict[str, int]:
        topo = env.topology
        position = topo.vertices(env.positions)
        goal = topo.vertices(env.goals)
        live = np.flatnonzero(env.active)
        if self.method == "pibt" or len(np.unique(goal[live])) < len(live):
            nxt = self._pibt_step(topo, position, goal, live)
        else:
            nxt = self._follow(topo, position, goal, live)
        choice = (topo.moves[position] == nxt[:, None]).argmax(axis=1)
        return {f"player_{i}": int(choice[i]) for i in live}

    def _follow(self, topo, position, goal, live) -> np.ndarray:
        stale = (
            self._plan is None
            or self._t >= len(self._plan)
            or (self._plan[self._t, live] != position[live]).any()
            or (self._goals[live] != goal[live]).any()
        )
        if stale:
            inst = make_instance(
                topo,
                topo.cells[position[live]],
                topo.cells[goal[live]],
                self.time_limit,
                self._seed,
            )
            from metagame.agents.planners import solve

            configs = solve(inst, self.method)
            self._plan = np.repeat(position[None], len(configs), axis=0)
            self._plan[:, live] = configs
            self._goals = goal.copy()
            self._t = 0
        self._t += 1
        return self._plan[min(self._t, len(self._plan) - 1)]

    def _pibt_step(self, topo, position, goal, live) -> np.ndarray:
        inst = Instance(topo, position[live], goal[live], self.time_limit, self._seed)
        if self._priority is None or len(self._priority) != len(position):
            self._priority = self._rng.random(len(position)) / len(position)
        order = np.argsort(-self._priority[live], kind="stable")
        tiebreaks = self._rng.random((1, topo.num_vertices))
        empty = np.zeros(0, dtype=np.int64)
        ok, nxt_live = step(inst, pibt_step, position[live], order, tiebreaks, empty, empty, True)
        nxt = position.copy()
        if ok:  # otherwise everyone waits this step
            nxt[live] = nxt_live
        nxt_live = nxt[live]
        self._priority[live] = update_priorities(self._priority[live], nxt_live, goal[live])
        self._plan = None
        return nxt
