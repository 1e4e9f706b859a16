"""Space-time A* for one agent under constraints, and A* over joint configurations.

``space_time_astar`` (Silver, "Cooperative Pathfinding", AIIDE 2005) searches states
``(vertex, time)`` with the BFS distance to the goal as heuristic, avoiding forbidden vertices
``(v, t)``, forbidden moves ``(u, v, t)`` (entering v from u at time t) and vertices parked on
from some time onward; it returns the path with the earliest final arrival. It is the low level
of CBS and prioritized planning.

``joint_astar`` is A* over joint configurations (every agent moves at once; vertex and swap
conflicts forbidden), minimising the sum of costs exactly; it is exponential in the number of
agents and meant for tiny instances. A state keeps, per agent, how long it has been waiting on
its goal: that wait is charged only if the agent leaves the goal again, so the cost of a path
is exactly the sum over agents of their last arrival times.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

import numpy as np

from metagame.agents.planners.instance import Instance, PlanningFailed


@dataclass
class Constraints:
    """What one agent must avoid: vertices at times, moves at times, vertices parked on."""

    vertex: set[tuple[int, int]] = field(default_factory=set)
    edge: set[tuple[int, int, int]] = field(default_factory=set)
    parked: dict[int, int] = field(default_factory=dict)

    def blocked(self, v: int, t: int) -> bool:
        return (v, t) in self.vertex or (v in self.parked and t >= self.parked[v])

    def last_blocked(self, v: int) -> float:
        """The last time ``v`` is forbidden (infinity if parked on)."""
        if v in self.parked:
            return float("inf")
        times = [t for u, t in self.vertex if u == v]
        return max(times, default=-1)

    def horizon(self) -> int:
        times = [t for _, t in self.vertex] + [t for *_, t in self.edge]
        times += list(self.parked.values())
        return max(times, default=0)

    def reserve(self, path: list[int]) -> None:
        """Reserves another agent's path: its vertices, its reverse moves, its final vertex."""
        for t, v in enumerate(path):
            self.vertex.add((v, t))
            if t > 0:
                self.edge.add((v, path[t - 1], t))
        self.parked[path[-1]] = min(self.parked.get(path[-1], len(path) - 1), len(path) - 1)


def space_time_astar(inst: Instance, agent: int, constraints: Constraints) -> list[int] | None:
    """The earliest-arrival path of ``agent`` that respects ``constraints`` (None if none)."""
    start, goal = int(inst.starts[agent]), int(inst.goals[agent])
    dist = inst.dist[agent]
    if constraints.blocked(start, 0):
        return None
    earliest_rest = constraints.last_blocked(goal) + 1
    if earliest_rest == float("inf"):
        return None
    horizon = constraints.horizon() + inst.topology.num_vertices + 1
    counter = itertools.count()
    frontier = [(int(dist[start]), 0, next(counter), start, 0)]
    parent: dict[tuple[int, int], tuple[int, int] | None] = {(start, 0): None}
    moves = inst.topology.moves
    while frontier:
        _, _, _, v, t = heapq.heappop(frontier)
        if v == goal and t >= earliest_rest:
            path, state = [], (v, t)
            while state is not None:
                path.append(state[0])
                state = parent[state]
            return path[::-1]
        if t >= horizon:
            continue
        if next(counter) % 1024 == 0:
            inst.check_time("space-time A*")
        for u in moves[v]:
            u = int(u)
            if u < 0 or (u, t + 1) in parent:
                continue
            if constraints.blocked(u, t + 1) or (v, u, t + 1) in constraints.edge:
                continue
            parent[(u, t + 1)] = (v, t)
            f = t + 1 + int(dist[u])
            heapq.heappush(frontier, (f, -(t + 1), next(counter), u, t + 1))
    return None


def joint_successors(inst: Instance, config: tuple[int, ...]):
    """Every conflict-free joint move from ``config`` (vertex and swap conflicts excluded)."""
    options = [[int(u) for u in inst.topology.moves[v] if u >= 0] for v in config]
    for nxt in itertools.product(*options):
        if len(set(nxt)) < len(nxt):
            continue
        position = {v: i for i, v in enumerate(config)}
        if any(
            position.get(u, i) != i and nxt[position[u]] == config[i] for i, u in enumerate(nxt)
        ):
            continue
        yield nxt


def joint_astar(inst: Instance) -> np.ndarray:
    """Optimal sum-of-costs joint plan by A* over configurations; ``(T+1, n)`` vertices."""
    goals = tuple(int(g) for g in inst.goals)
    n = len(goals)
    start = (tuple(int(s) for s in inst.starts), (0,) * n)

    def heuristic(config):
        return sum(int(inst.dist[i, v]) for i, v in enumerate(config))

    counter = itertools.count()
    frontier = [(heuristic(start[0]), 0, next(counter), start)]
    best = {start: 0}
    parent: dict = {start: None}
    while frontier:
        _, g, _, state = heapq.heappop(frontier)
        config, waited = state
        if g > best[state]:
            continue
        if config == goals:
            configs = []
            while state is not None:
                configs.append(state[0])
                state = parent[state]
            return np.array(configs[::-1], dtype=np.int64)
        inst.check_time("joint A*")
        for nxt in joint_successors(inst, config):
            cost, wait = 0, []
            for i in range(n):
                resting = config[i] == goals[i] and nxt[i] == goals[i]
                cost += 0 if resting else 1 + (waited[i] if config[i] == goals[i] else 0)
                wait.append(waited[i] + 1 if resting else 0)
            child = (nxt, tuple(wait))
            if g + cost < best.get(child, float("inf")):
                best[child] = g + cost
                parent[child] = state
                heapq.heappush(
                    frontier, (g + cost + heuristic(nxt), g + cost, next(counter), child)
                )
    raise PlanningFailed("astar: no solution exists")
