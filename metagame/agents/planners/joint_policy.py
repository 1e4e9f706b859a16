"""Planners as a joint policy for :class:`~metagame.envs.mapf.env.MAPFEnv`.

Planners need the global state, so the policy is joint rather than per-agent. Directly::

    policy = PlannerPolicy("lacam")
    obs, _ = env.reset(seed=0)
    while env.agents:
        env.step(policy.actions(env))

or through :func:`metagame.agents.play` like any other policy, as a
:class:`~metagame.agents.team.TeamPolicy` (bound to the env, acting for the whole team).

``"pibt"`` takes one PIBT step (with swap) per call with priorities kept across calls
(lifelong PIBT, Okumura et al. 2022); its lazy distance table is kept too, and an agent's row
restarts only when its goal changes. Other methods plan once and follow the plan, replanning
from the current state whenever it stops matching (a goal changed in lifelong mode, an agent
left in finish mode, or a deviation). If lifelong goals are not distinct (no joint plan can
end there), that step is a PIBT step.
"""

from __future__ import annotations

import numpy as np

from metagame.agents.planners.distances import DistanceTable
from metagame.agents.planners.instance import make_instance
from metagame.agents.planners.pibt import best_step, compile_kernels, update_priorities
from metagame.agents.planners.scatter import no_scatter
from metagame.agents.team import TeamPolicy


class PlannerPolicy(TeamPolicy):
    """Drives a MAPF env with a planner: ``actions(env) -> {agent: action}``."""

    def __init__(self, method: str = "lacam", time_limit: float = 10.0, seed: int = 0):
        from metagame.agents.planners import METHODS

        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
        self.method = method
        self.time_limit = time_limit
        self.id = f"planner:{method}"
        compile_kernels()
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed if seed is not None else 0)
        self._seed = seed or 0
        self._plan: np.ndarray | None = None
        self._goals: np.ndarray | None = None
        self._t = 0
        self._priority: np.ndarray | None = None
        self._table: DistanceTable | None = None
        self._table_goals: np.ndarray | None = None
        self._step = None

    def _team_actions(self, env, observations, action_masks) -> dict[str, int]:
        return self.actions(env)

    # --- planning ---

    def actions(self, env) -> dict[str, int]:
        topo = env.topology
        position = topo.vertices(env.positions)
        goal = topo.vertices(env.goals)
        live = np.flatnonzero(env.active)
        if self.method == "pibt" or len(np.unique(goal[live])) < len(live):
            nxt = self.pibt_step(topo, position, goal, live)
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

    def _distances(self, topo, goal: np.ndarray) -> DistanceTable:
        """The lazy table for ``goal`` (all agents), restarting only rows whose goal moved."""
        if self._table is None or len(self._table_goals) != len(goal):
            self._table = DistanceTable(topo.moves, goal)
        else:
            for i in np.flatnonzero(self._table_goals != goal):
                self._table.retarget(int(i), int(goal[i]))
        self._table_goals = goal.copy()
        return self._table

    def pibt_step(self, topo, position, goal, live, prefer=None) -> np.ndarray:
        """One lifelong PIBT step (with swap) of the agents ``live``: their next vertices.
        ``prefer`` (``(n,)`` vertices, optional) is the neighbour (or own vertex) each agent
        tries first; the others follow in PIBT's order (goal distance)."""
        table = self._distances(topo, goal)
        dist = table.arrays
        if len(live) < len(position):  # agents that left: a table of the live rows
            dist = tuple(a[live] for a in dist)
        if self._priority is None or len(self._priority) != len(position):
            self._priority = self._rng.random(len(position)) / len(position)
        order = np.argsort(-self._priority[live], kind="stable")
        tiebreaks = self._rng.random((1, topo.num_vertices))
        empty = np.zeros(0, dtype=np.int64)
        first = no_scatter(len(live))
        if prefer is not None:
            ones = np.ones(len(live), dtype=np.int64)
            first = (
                position[live][:, None],
                np.asarray(prefer, dtype=np.int64)[live][:, None],
                ones,
            )
        ok, nxt_live = best_step(
            position[live],
            order,
            topo.moves,
            goal[live],
            dist,
            tiebreaks,
            empty,
            empty,
            True,
            first,
        )
        nxt = position.copy()
        if ok:  # otherwise everyone waits this step
            nxt[live] = nxt_live
        self._priority[live] = update_priorities(self._priority[live], nxt[live], goal[live])
        self._plan = None
        return nxt
