"""A MAPF instance as the planners see it: vertices, moves, goal distances, a deadline.

Planners work on vertex ids of a :class:`metagame.envs.mapf.maps.Topology` (grid cells or
graph nodes) and return vertex paths; :func:`metagame.agents.planners.plan` converts them to
``(row, col)``. A configuration is an ``(n,)`` int array of vertices, one per agent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from metagame.agents.planners.distances import DistanceTable
from metagame.envs.mapf import maps


class PlanningFailed(RuntimeError):
    """No solution found: the time limit ran out or the method is incomplete here."""


@dataclass
class Instance:
    """``starts``/``goals`` are vertex arrays; ``distances`` the lazy goal-distance table
    (``dist[i, v]``, the full BFS distance v -> goal i, finishes it). The clock starts here."""

    topology: maps.Topology
    starts: np.ndarray
    goals: np.ndarray
    time_limit: float = 60.0
    seed: int = 0
    distances: DistanceTable = field(init=False)
    deadline: float = field(init=False)

    def __post_init__(self):
        self.distances = DistanceTable(self.topology.moves, self.goals)
        self.deadline = time.perf_counter() + self.time_limit

    @property
    def dist(self) -> np.ndarray:
        return self.distances.full()

    @property
    def num_agents(self) -> int:
        return len(self.starts)

    def neighbours(self, v: int) -> list[int]:
        """Vertices reachable from ``v`` in one move (``v`` itself excluded)."""
        row = self.topology.moves[v, 1:]
        return row[row >= 0].tolist()

    def check_time(self, method: str) -> None:
        if time.perf_counter() > self.deadline:
            raise PlanningFailed(f"{method}: no solution within time_limit={self.time_limit}s")


def make_instance(
    topology: maps.Topology, starts, goals, time_limit: float = 60.0, seed: int = 0
) -> Instance:
    """Validates start/goal cells (distinct, free, goal reachable) and builds an Instance."""
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    s = topology.vertices(np.asarray(starts), "starts")
    g = topology.vertices(np.asarray(goals), "goals")
    if len(s) != len(g) or len(s) == 0:
        raise ValueError(
            f"starts and goals must have the same, nonzero length ({len(s)}, {len(g)})"
        )
    for name, arr in (("starts", s), ("goals", g)):
        if len(np.unique(arr)) != len(arr):
            raise ValueError(f"{name}: two agents share a cell")
    bad = topology.component[s] != topology.component[g]
    if bad.any():
        raise ValueError(f"goals: agent {int(np.argmax(bad))} cannot reach its goal")
    return Instance(topology, s, g, time_limit, seed)


def pad(paths: list[list[int]]) -> np.ndarray:
    """Vertex paths of unequal length -> ``(T+1, n)``, each agent waiting at its last vertex."""
    horizon = max(len(p) for p in paths)
    return np.array([p + [p[-1]] * (horizon - len(p)) for p in paths], dtype=np.int64).T


def trim(configs: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Drops trailing configurations once every agent rests on its goal."""
    at_goal = (configs == goals).all(axis=1)
    last = len(configs) - 1
    while last > 0 and at_goal[last - 1]:
        last -= 1
    return configs[: last + 1]
