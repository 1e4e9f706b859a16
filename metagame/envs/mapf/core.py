"""The MAPF transition and observation kernels (Numba), each with a NumPy reference beside it.

Conflict rule (``resolve``): every agent proposes the vertex its action leads to (an
impossible move proposes staying). An agent that shares its proposed vertex with another
agent (vertex conflict), or that would exchange vertices with another agent (swap/edge
conflict), waits instead; waiting can create new conflicts (someone was about to enter the
cell), so the rule is applied again, all agents at once, until nothing changes. The result
has no vertex or swap conflicts; following a moving agent into the cell it leaves is allowed,
and so is a rotation of three or more agents around a cycle (as in PIBT and LaCAM). The
procedure is the least fixed point reached from "everyone moves"; waiting only ever grows, so
it ends after at most ``n`` rounds.

Observation (``observe``): for each agent a ``(4, 2R+1, 2R+1)`` window centred on it with
channels 0 obstacles (blocked or outside the map), 1 other agents, 2 its own goal (clamped to
the window border when outside it, as in POGEMA), 3 shortest-path hint (the neighbouring
cells whose BFS distance to the goal is smaller than the agent's).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.envs.mapf.maps import bfs_distances

OBSTACLES, AGENTS, GOAL, HINT = range(4)
NUM_CHANNELS = 4


@njit(cache=True)
def resolve(position: np.ndarray, proposed: np.ndarray, active: np.ndarray, num_vertices: int):
    """Next vertices under the wait-on-conflict rule (see the module docstring)."""
    n = position.shape[0]
    nxt = proposed.copy()
    occupant = np.full(num_vertices, -1, dtype=np.int64)
    count = np.zeros(num_vertices, dtype=np.int64)
    wait = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if active[i]:
            occupant[position[i]] = i
        else:
            nxt[i] = position[i]
    changed = True
    while changed:
        changed = False
        for i in range(n):
            if active[i]:
                count[nxt[i]] += 1
        for i in range(n):
            if not active[i] or nxt[i] == position[i]:
                continue
            j = occupant[nxt[i]]
            if count[nxt[i]] > 1 or (j >= 0 and nxt[j] == position[i]):
                wait[i] = True
        for i in range(n):
            if active[i]:
                count[nxt[i]] = 0
            if wait[i]:
                nxt[i] = position[i]
                wait[i] = False
                changed = True
    return nxt


def resolve_reference(position, proposed, active, num_vertices):
    """NumPy reference of :func:`resolve` (same rounds, vectorised)."""
    nxt = np.where(active, proposed, position)
    occupant = np.full(num_vertices, -1)
    occupant[position[active]] = np.flatnonzero(active)
    while True:
        count = np.bincount(nxt[active], minlength=num_vertices)
        j = occupant[nxt]
        swap = (j >= 0) & (nxt[np.maximum(j, 0)] == position)
        wait = active & (nxt != position) & ((count[nxt] > 1) | swap)
        if not wait.any():
            return nxt
        nxt = np.where(wait, position, nxt)


@njit(cache=True)
def step(position: np.ndarray, actions: np.ndarray, moves: np.ndarray, active: np.ndarray):
    """Applies joint actions: proposals from the move table, then :func:`resolve`."""
    proposed = position.copy()
    for i in range(position.shape[0]):
        a = actions[i]
        if active[i] and 0 <= a < moves.shape[1] and moves[position[i], a] >= 0:
            proposed[i] = moves[position[i], a]
    return resolve(position, proposed, active, moves.shape[0])


def step_reference(position, actions, moves, active):
    """NumPy reference of :func:`step`."""
    legal = (actions >= 0) & (actions < moves.shape[1])
    target = moves[position, np.where(legal, actions, 0)]
    proposed = np.where(active & legal & (target >= 0), target, position)
    return resolve_reference(position, proposed, active, moves.shape[0])


@njit(cache=True)
def observe(
    position: np.ndarray,
    goal: np.ndarray,
    active: np.ndarray,
    cells: np.ndarray,
    blocked: np.ndarray,
    moves: np.ndarray,
    dist: np.ndarray,
    radius: int,
):
    """Observation windows ``(n, 4, S, S)`` float32 and action masks ``(n, A)`` int8.

    ``blocked`` is the obstacle map padded by ``radius`` on every side (float32, 1 = blocked),
    as made by :func:`padded_obstacles`.
    """
    n = position.shape[0]
    size = 2 * radius + 1
    obs = np.empty((n, NUM_CHANNELS, size, size), dtype=np.float32)
    mask = np.zeros((n, moves.shape[1]), dtype=np.int8)
    present = np.zeros(blocked.shape, dtype=np.float32)
    for i in range(n):
        if active[i]:
            present[cells[position[i], 0] + radius, cells[position[i], 1] + radius] = 1.0
    for i in range(n):
        if not active[i]:
            obs[i] = 0.0
            continue
        v = position[i]
        r0 = cells[v, 0]
        c0 = cells[v, 1]
        # One channel at a time: contiguous writes; only the sparse channels are zeroed first.
        obs[i, GOAL:] = 0.0
        for dr in range(size):
            for dc in range(size):
                obs[i, OBSTACLES, dr, dc] = blocked[r0 + dr, c0 + dc]
        for dr in range(size):
            for dc in range(size):
                obs[i, AGENTS, dr, dc] = present[r0 + dr, c0 + dc]
        obs[i, AGENTS, radius, radius] = 0.0  # the agent itself
        gr = min(max(cells[goal[i], 0] - r0 + radius, 0), size - 1)
        gc = min(max(cells[goal[i], 1] - c0 + radius, 0), size - 1)
        obs[i, GOAL, gr, gc] = 1.0
        mask[i, 0] = 1
        for a in range(1, moves.shape[1]):
            u = moves[v, a]
            if u < 0:
                continue
            mask[i, a] = 1
            if dist[i, u] < dist[i, v]:
                ur = cells[u, 0] - r0 + radius
                uc = cells[u, 1] - c0 + radius
                if 0 <= ur < size and 0 <= uc < size:
                    obs[i, HINT, ur, uc] = 1.0
    return obs, mask


def padded_obstacles(grid: np.ndarray, radius: int) -> np.ndarray:
    """The obstacle map (True = blocked) padded with blocked cells, as float32."""
    return np.pad(grid, radius, constant_values=True).astype(np.float32)


def observe_reference(position, goal, active, cells, blocked, moves, dist, radius):
    """NumPy reference of :func:`observe` (slicing and vector ops instead of loops)."""
    n = len(position)
    size = 2 * radius + 1
    occupied = np.full(blocked.shape, -1)
    rc = cells[position[active]] + radius
    occupied[rc[:, 0], rc[:, 1]] = np.flatnonzero(active)
    obs = np.zeros((n, NUM_CHANNELS, size, size), dtype=np.float32)
    mask = np.zeros((n, moves.shape[1]), dtype=np.int8)
    for i in np.flatnonzero(active):
        r, c = cells[position[i]]
        window = np.s_[r : r + size, c : c + size]
        obs[i, OBSTACLES] = blocked[window]
        obs[i, AGENTS] = (occupied[window] >= 0) & (occupied[window] != i)
        offset = np.clip(cells[goal[i]] - (r - radius, c - radius), 0, size - 1)
        obs[i, GOAL, offset[0], offset[1]] = 1
        nbrs = moves[position[i]]
        mask[i] = nbrs >= 0
        closer = nbrs[1:][(nbrs[1:] >= 0)]
        closer = closer[dist[i, closer] < dist[i, position[i]]]
        local = cells[closer] - (r - radius, c - radius)
        local = local[((local >= 0) & (local < size)).all(axis=1)]
        obs[i, HINT, local[:, 0], local[:, 1]] = 1
    return obs, mask


@njit(cache=True)
def goal_distances(moves: np.ndarray, goal: np.ndarray, dist: np.ndarray, rows: np.ndarray):
    """Fills ``dist[i]`` with BFS distances to ``goal[i]`` for every agent ``i`` in ``rows``."""
    for i in rows:
        dist[i] = bfs_distances(moves, goal[i])
