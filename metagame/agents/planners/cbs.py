"""Conflict-Based Search (Sharon, Stern, Felner and Sturtevant, AIJ 2015).

The high level searches a binary tree of constraint sets in order of sum of costs; each node
plans every agent alone with space-time A* under its constraints, finds the first conflict
(vertex: two agents in one vertex at time t; swap: two agents exchanging vertices between t-1
and t) and branches on forbidding it to one agent or the other. The first conflict-free node
popped is optimal in sum of costs. Exponential in the worst case: for small instances.
"""

from __future__ import annotations

import heapq
import itertools

import numpy as np

from metagame.agents.planners.astar import Constraints, space_time_astar
from metagame.agents.planners.instance import Instance, PlanningFailed, pad


def first_conflict(paths: list[list[int]]):
    """``(i, j, constraint_i, constraint_j)`` for the earliest conflict, or None."""
    horizon = max(len(p) for p in paths)

    def at(p, t):
        return p[min(t, len(p) - 1)]

    for t in range(horizon):
        seen: dict[int, int] = {}
        for i, p in enumerate(paths):
            v = at(p, t)
            if v in seen:
                return seen[v], i, ("v", v, t), ("v", v, t)
            seen[v] = i
        if t == 0:
            continue
        for i, p in enumerate(paths):
            for j in range(i + 1, len(paths)):
                q = paths[j]
                if (
                    at(p, t) == at(q, t - 1)
                    and at(q, t) == at(p, t - 1)
                    and at(p, t) != at(p, t - 1)
                ):
                    return (
                        i,
                        j,
                        ("e", at(p, t - 1), at(p, t), t),
                        ("e", at(q, t - 1), at(q, t), t),
                    )
    return None


def _with(constraints: Constraints, c) -> Constraints:
    out = Constraints(set(constraints.vertex), set(constraints.edge), dict(constraints.parked))
    if c[0] == "v":
        out.vertex.add((c[1], c[2]))
    else:
        out.edge.add((c[1], c[2], c[3]))
    return out


def cbs(inst: Instance) -> np.ndarray:
    """Optimal sum-of-costs ``(T+1, n)`` vertex paths; PlanningFailed on timeout."""
    n = inst.num_agents
    root = [Constraints() for _ in range(n)]
    paths = [space_time_astar(inst, i, root[i]) for i in range(n)]
    counter = itertools.count()
    frontier = [(sum(len(p) - 1 for p in paths), next(counter), root, paths)]
    while frontier:
        inst.check_time("cbs")
        cost, _, constraints, paths = heapq.heappop(frontier)
        conflict = first_conflict(paths)
        if conflict is None:
            return pad(paths)
        i, j, ci, cj = conflict
        for agent, c in ((i, ci), (j, cj)):
            child = list(constraints)
            child[agent] = _with(constraints[agent], c)
            path = space_time_astar(inst, agent, child[agent])
            if path is None:
                continue
            child_paths = list(paths)
            child_paths[agent] = path
            child_cost = cost - (len(paths[agent]) - 1) + (len(path) - 1)
            heapq.heappush(frontier, (child_cost, next(counter), child, child_paths))
    raise PlanningFailed("cbs: no solution exists")
