"""Classical MAPF planners: space-time A*, prioritized planning, CBS, PIBT and LaCAM.

``plan(grid, starts, goals, method="lacam", time_limit=60.0)`` returns conflict-free paths as
an int array ``(T+1, num_agents, 2)`` in (row, col) (``paths[0]`` the starts, ``paths[-1]``
the goals), on a 4-connected grid (True = blocked) or any map
:func:`metagame.envs.mapf.maps.resolve` accepts. Methods:

- ``"astar"``: A* over joint configurations, optimal sum of costs; tiny instances only;
- ``"cbs"``: Conflict-Based Search (Sharon et al. 2015), optimal sum of costs; small instances;
- ``"prioritized"``: prioritized planning with space-time A* (Silver 2005); fast, incomplete;
- ``"pibt"``: PIBT (Okumura et al. 2022) with LaCAM*'s swap operation; very fast, can still
  livelock in one-shot MAPF (less often: corridors no longer trap it);
- ``"lacam"``: LaCAM (Okumura 2023); complete, PIBT-fast on dense instances. With
  ``anytime=S`` it is LaCAM* (Okumura 2023, engineered as in LaCAM3, AAMAS 2024): scatter
  paths guide PIBT, each successor is the best of ten PIBT steps, and the search keeps
  refining for S seconds, returning the best solution.

Goal distances are lazy BFS tables (:mod:`metagame.agents.planners.distances`).

Every plan can be verified with :func:`metagame.agents.planners.checker.check`.
:class:`PlannerPolicy` drives a :class:`~metagame.envs.mapf.env.MAPFEnv` with any method.
Raises ``ValueError`` for bad input and :class:`PlanningFailed` when no plan is found.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from metagame.agents.planners.astar import joint_astar
from metagame.agents.planners.cbs import cbs
from metagame.agents.planners.checker import check, makespan, sum_of_costs
from metagame.agents.planners.instance import Instance, PlanningFailed, make_instance
from metagame.agents.planners.joint_policy import PlannerPolicy
from metagame.agents.planners.lacam import lacam
from metagame.agents.planners.pibt import compile_kernels, pibt
from metagame.agents.planners.prioritized import prioritized
from metagame.envs.mapf import maps

Method = Literal["lacam", "pibt", "cbs", "prioritized", "astar"]
METHODS = {
    "lacam": lacam,
    "pibt": pibt,
    "cbs": cbs,
    "prioritized": prioritized,
    "astar": joint_astar,
}


def solve(inst: Instance, method: Method, anytime: float | None = None) -> np.ndarray:
    """Vertex configurations ``(T+1, n)`` for an instance."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if anytime is None:
        return METHODS[method](inst)
    if method != "lacam":
        raise ValueError(f"anytime: only method 'lacam' refines its solution, got {method!r}")
    if not anytime > 0:
        raise ValueError(f"anytime must be positive seconds, got {anytime}")
    return lacam(inst, anytime=anytime)


def plan(
    grid,
    starts,
    goals,
    method: Method = "lacam",
    time_limit: float = 60.0,
    seed: int = 0,
    anytime: float | None = None,
) -> np.ndarray:
    """Conflict-free paths ``(T+1, num_agents, 2)`` in (row, col) from ``starts`` to ``goals``.

    ``time_limit`` (seconds) counts planning only: the kernels are compiled before it starts.
    ``anytime`` (seconds, ``"lacam"`` only): refine with LaCAM* and return the best found.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    topology = maps.resolve(grid)
    compile_kernels()
    inst = make_instance(topology, starts, goals, time_limit, seed)
    return topology.cells[solve(inst, method, anytime)]


__all__ = [
    "METHODS",
    "PlannerPolicy",
    "PlanningFailed",
    "check",
    "make_instance",
    "makespan",
    "plan",
    "solve",
    "sum_of_costs",
]
