"""Prioritized planning (Erdmann and Lozano-Perez 1987; Silver 2005).

Agents plan one after another with space-time A*, each treating the paths of the agents
before it as moving obstacles (their vertices, reverse moves, and final vertices from their
arrival on). Agents farther from their goals go first. Fast and incomplete: it fails when a
later agent cannot get around the earlier ones' plans.
"""

from __future__ import annotations

import numpy as np

from metagame.agents.planners.astar import Constraints, space_time_astar
from metagame.agents.planners.instance import Instance, PlanningFailed, pad


def prioritized(inst: Instance) -> np.ndarray:
    """``(T+1, n)`` vertex paths; raises PlanningFailed when an agent finds no path."""
    order = np.argsort(-inst.dist[np.arange(inst.num_agents), inst.starts], kind="stable")
    reserved = Constraints()
    paths: list[list[int]] = [[] for _ in range(inst.num_agents)]
    for i in order:
        path = space_time_astar(inst, int(i), reserved)
        if path is None:
            raise PlanningFailed(f"prioritized: agent {int(i)} found no path around the others")
        paths[int(i)] = path
        reserved.reserve(path)
    return pad(paths)
