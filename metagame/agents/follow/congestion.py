"""Congestion-aware individual path planning, the planning half of Learn to Follow (Skrynnik,
Andreychuk, Nesterova, Yakovlev and Panov, "Learn to Follow: Decentralized Lifelong Multi-Agent
Pathfinding via Planning and Learning", AAAI 2024).

Each agent keeps a heat map of the other agents it has seen: every step its entries decay by
``decay`` and every cell holding another agent inside its observation window (Chebyshev radius
``radius``) gains 1 (:func:`update_heat`). Its path is then a cheapest path on the grid to its
own goal where entering vertex ``v`` costs ``1 + weight * heat[v]`` (:func:`congestion_astar`,
A* with the Manhattan distance, admissible since every step costs at least 1), so crowded
corridors look longer and agents spread over alternatives. Planning needs nothing global: an
agent's own position, goal, map and what it observes.

Each kernel is Numba; :func:`update_heat_reference` and :func:`path_cost` (used with networkx's
Dijkstra in the tests) are the independent references.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def update_heat(heat, position, active, cells, radius, decay):
    """``heat (n, V)`` in place: decays every row, then adds the agents each active agent sees."""
    n = position.shape[0]
    heat *= decay
    for i in range(n):
        if not active[i]:
            continue
        r, c = cells[position[i], 0], cells[position[i], 1]
        for j in range(n):
            if j == i or not active[j]:
                continue
            v = position[j]
            if abs(cells[v, 0] - r) <= radius and abs(cells[v, 1] - c) <= radius:
                heat[i, v] += 1.0


def update_heat_reference(heat, position, active, cells, radius, decay):
    """NumPy reference of :func:`update_heat` (returns a new array)."""
    out = heat * decay
    rc = cells[position]
    near = (np.abs(rc[:, None, :] - rc[None, :, :]) <= radius).all(axis=2)
    near &= active[:, None] & active[None, :]
    np.fill_diagonal(near, False)
    for i, j in zip(*np.nonzero(near)):
        out[i, position[j]] += 1.0
    return out


@njit(cache=True)
def _push(keys, vals, size, key, val):
    i = size
    keys[i], vals[i] = key, val
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] <= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@njit(cache=True)
def _pop(keys, vals, size):
    val = vals[0]
    size -= 1
    keys[0], vals[0] = keys[size], vals[size]
    i = 0
    while True:
        left, smallest = 2 * i + 1, i
        if left < size and keys[left] < keys[smallest]:
            smallest = left
        if left + 1 < size and keys[left + 1] < keys[smallest]:
            smallest = left + 1
        if smallest == i:
            break
        keys[smallest], keys[i] = keys[i], keys[smallest]
        vals[smallest], vals[i] = vals[i], vals[smallest]
        i = smallest
    return val, size


@njit(cache=True)
def congestion_astar(moves, cells, start, goal, heat, weight):
    """Cheapest path from ``start`` to ``goal`` (vertex ids, both ends included) when entering
    ``v`` costs ``1 + weight * heat[v]``; empty if the goal is unreachable."""
    num_vertices = moves.shape[0]
    g = np.full(num_vertices, np.inf)
    parent = np.full(num_vertices, -1, dtype=np.int64)
    closed = np.zeros(num_vertices, dtype=np.bool_)
    capacity = num_vertices * moves.shape[1] + 1
    keys = np.empty(capacity)
    vals = np.empty(capacity, dtype=np.int64)
    gr, gc = cells[goal, 0], cells[goal, 1]
    g[start] = 0.0
    size = _push(keys, vals, 0, float(abs(cells[start, 0] - gr) + abs(cells[start, 1] - gc)), start)
    while size > 0:
        v, size = _pop(keys, vals, size)
        if closed[v]:
            continue
        if v == goal:
            break
        closed[v] = True
        for a in range(1, moves.shape[1]):
            u = moves[v, a]
            if u < 0 or closed[u]:
                continue
            cost = g[v] + 1.0 + weight * heat[u]
            if cost < g[u]:
                g[u] = cost
                parent[u] = v
                h = abs(cells[u, 0] - gr) + abs(cells[u, 1] - gc)
                size = _push(keys, vals, size, cost + h, u)
    if not np.isfinite(g[goal]):
        return np.zeros(0, dtype=np.int64)
    length = 1
    v = goal
    while v != start:
        v = parent[v]
        length += 1
    path = np.empty(length, dtype=np.int64)
    v = goal
    for k in range(length - 1, -1, -1):
        path[k] = v
        v = parent[v]
    return path


def path_cost(path: np.ndarray, heat: np.ndarray, weight: float) -> float:
    """The cost :func:`congestion_astar` minimises, of any path (its first vertex is free)."""
    path = np.asarray(path)
    return float(len(path) - 1 + weight * heat[path[1:]].sum())


@njit(cache=True)
def plan_ahead(moves, cells, position, goal, active, heat, weight, horizon):
    """``(n, horizon)`` vertex ids: the next ``horizon`` vertices of every active agent's
    congestion-aware path (-1 past the goal and for inactive agents)."""
    n = position.shape[0]
    ahead = np.full((n, horizon), -1, dtype=np.int64)
    for i in range(n):
        if not active[i]:
            continue
        path = congestion_astar(moves, cells, position[i], goal[i], heat[i], weight)
        for k in range(min(horizon, path.shape[0] - 1)):
            ahead[i, k] = path[k + 1]
    return ahead


class CongestionPlanner:
    """Per-agent heat maps and congestion-aware paths for the agents of one map.

    ``step(position, goal, active)`` records what every agent sees now and returns the next
    ``horizon`` vertices of each agent's path (replanned every step, so changed goals and
    changed congestion take effect at once).
    """

    def __init__(
        self,
        topology,
        num_agents: int,
        radius: int = 5,
        weight: float = 1.0,
        decay: float = 0.9,
        horizon: int = 8,
    ):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must lie in [0, 1), got {decay}")
        if weight < 0 or horizon < 1 or radius < 0:
            raise ValueError(
                f"weight and radius must be >= 0 and horizon >= 1, got {weight}, {radius}, "
                f"{horizon}"
            )
        self.topology = topology
        self.radius = int(radius)
        self.weight = float(weight)
        self.decay = float(decay)
        self.horizon = int(horizon)
        self.heat = np.zeros((num_agents, topology.num_vertices))

    def step(self, position: np.ndarray, goal: np.ndarray, active: np.ndarray) -> np.ndarray:
        topo = self.topology
        update_heat(self.heat, position, active, topo.cells, self.radius, self.decay)
        return plan_ahead(
            topo.moves, topo.cells, position, goal, active, self.heat, self.weight, self.horizon
        )
