"""Space utilisation optimisation ("scatter"; Han and Yu, ICRA 2022), as LaCAM3 uses it.

Before the search, every agent gets a single-agent path that avoids the others' paths where it
can: A* over vertices (no revisits) whose nodes are ordered by collisions with the paths already
laid (vertex, swap, and passing a goal where its agent has parked) first, then by ``g + h``,
within a cost bound of the shortest distance plus ``margin``. Agents are re-planned in random
order, pass after pass, while the total number of collisions keeps falling (at least two
passes). PIBT then tries each agent's next vertex on its scatter path first
(:func:`metagame.agents.planners.pibt.pibt_step`): agents spread over the map instead of all
taking the same shortest corridors, which lowers the sum of costs of LaCAM's first solution.

The collision table keeps, for each (vertex, time), a linked list of the agents there
(``first[t, v]``, ``link[i, t]``; time-major, so a vertex's neighbours at one time lie close
in memory), and the time each goal's agent parks (``parked[v]``).
:func:`lookup` answers "where does agent ``i`` go next from ``v``" by binary search in the
agent's path sorted by vertex. ``scatter`` returns ``(vertices, next, lengths)`` arrays;
:func:`no_scatter` the empty tables that switch it off.
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from numba import njit

from metagame.agents.planners.distances import lazy_distance

CHUNK = 32  # agents re-planned between two looks at the clock


@njit(cache=True)
def _collisions(first, link, parked, paths, v_from, v_to, t_from):
    """Collisions of the move ``v_from -> v_to`` at ``t_from`` with the enrolled paths."""
    t_to = t_from + 1
    count = 0
    if t_to < first.shape[0]:
        j = first[t_to, v_to]
        while j >= 0:  # vertex collisions
            count += 1
            j = link[j, t_to]
        j = first[t_to, v_from]
        while j >= 0:  # swap collisions: j goes v_to -> v_from
            if paths[j, t_from] == v_to:
                count += 1
            j = link[j, t_to]
    if 0 <= parked[v_to] < t_to:  # passing a goal whose agent has parked
        count += 1
    return count


@njit(cache=True)
def _enroll(i, length, first, link, parked, paths, sign):
    """Adds (``sign`` 1) or removes (-1) agent ``i``'s path; the change in collisions."""
    change = 0
    if sign < 0:
        parked[paths[i, length - 1]] = -1
    for t in range(length):
        v = paths[i, t]
        if sign > 0:
            if t > 0:
                change += _collisions(first, link, parked, paths, paths[i, t - 1], v, t - 1)
            link[i, t] = first[t, v]
            first[t, v] = i
        else:
            prev, j = -1, first[t, v]
            while j != i:
                prev, j = j, link[j, t]
            if prev < 0:
                first[t, v] = link[i, t]
            else:
                link[prev, t] = link[i, t]
            if t > 0:
                change += _collisions(first, link, parked, paths, paths[i, t - 1], v, t - 1)
    goal = paths[i, length - 1]
    for t in range(length, first.shape[0]):  # agents crossing the goal after it parks
        j = first[t, goal]
        while j >= 0:
            change += 1
            j = link[j, t]
    if sign > 0:
        parked[goal] = length - 1
    return change if sign > 0 else -change


@njit(cache=True)
def _plan_agent(i, start, goal, bound, moves, dist, first, link, parked, paths, parent, closed):
    """Collision-first A* for agent ``i``; its path into ``paths[i]``; its length or 0."""
    h = lazy_distance(dist[0], dist[1], dist[2], dist[3], moves, i, start)
    heap = [(0, h, 0, start, -1)]  # collisions, f, g, vertex, parent
    used = []
    found = False
    while len(heap) > 0:
        c, f, g, v, p = heapq.heappop(heap)
        if closed[v]:
            continue
        closed[v] = True
        parent[v] = p
        used.append(v)
        if v == goal:
            found = True
            break
        for a in range(1, moves.shape[1]):
            u = moves[v, a]
            if u < 0 or u == start or closed[u]:
                continue
            h = lazy_distance(dist[0], dist[1], dist[2], dist[3], moves, i, u)
            if g + 1 + h > bound:
                continue
            cu = c + _collisions(first, link, parked, paths, v, u, g)
            heapq.heappush(heap, (cu, g + 1 + h, g + 1, u, v))
    length = 0
    if found:
        v = goal
        while v >= 0:
            length += 1
            v = parent[v]
        v = goal
        for t in range(length - 1, -1, -1):
            paths[i, t] = v
            v = parent[v]
    for v in used:
        closed[v] = False
    return length


@njit(cache=True)
def scatter_pass(order, starts, goals, margin, moves, dist, first, link, parked, paths, lengths):
    """Re-plans every agent in ``order``; the change in the collision count."""
    change = 0
    parent = np.full(moves.shape[0], -1, dtype=np.int64)
    closed = np.zeros(moves.shape[0], dtype=np.bool_)
    for i in order:
        if lengths[i] > 0:
            change += _enroll(i, lengths[i], first, link, parked, paths, -1)
        bound = lazy_distance(dist[0], dist[1], dist[2], dist[3], moves, i, starts[i]) + margin
        length = _plan_agent(
            i, starts[i], goals[i], bound, moves, dist, first, link, parked, paths, parent, closed
        )
        if length > 0:
            lengths[i] = length
        if lengths[i] > 0:  # keep the old path if no path was found within the bound
            change += _enroll(i, lengths[i], first, link, parked, paths, 1)
    return change


@njit(cache=True)
def lookup(table, i, v):
    """The vertex after ``v`` on agent ``i``'s scatter path, or -1."""
    vertices, nxt, lengths = table
    k = np.searchsorted(vertices[i, : lengths[i]], v)
    if k < lengths[i] and vertices[i, k] == v:
        return nxt[i, k]
    return -1


def as_lookup(paths: np.ndarray, lengths: np.ndarray):
    """``(vertices, next, lengths)``: each path's moves sorted by the vertex they leave."""
    n = len(lengths)
    width = max(int(lengths.max()) - 1, 1)
    vertices = np.full((n, width), np.iinfo(np.int64).max, dtype=np.int64)
    nxt = np.full((n, width), -1, dtype=np.int64)
    moves_len = np.maximum(lengths - 1, 0)
    for i in range(n):
        k = moves_len[i]
        order = np.argsort(paths[i, :k], kind="stable")
        vertices[i, :k] = paths[i, :k][order]
        nxt[i, :k] = paths[i, 1 : k + 1][order]
    return vertices, nxt, moves_len


def no_scatter(n: int):
    """Empty scatter tables: PIBT's own candidate order."""
    return (
        np.zeros((n, 1), dtype=np.int64),
        np.full((n, 1), -1, dtype=np.int64),
        np.zeros(n, dtype=np.int64),
    )


def scatter_paths(
    inst, margin: int = 10, seconds: float | None = None, seed: int = 0, max_passes: int = 1000
):
    """``(paths (n, horizon), lengths (n,), collisions)``: each agent's path padded with -1
    (length 0 if none was found within its bound, or if ``seconds`` ran out before its turn)
    and the collision count between them. ``seconds`` and ``max_passes`` bound the passes;
    the clock is read every :data:`CHUNK` agents."""
    moves, n = inst.topology.moves, inst.num_agents
    dist = inst.distances.arrays
    horizon = int(inst.distances.at(inst.starts).max()) + margin + 1
    first = np.full((horizon, moves.shape[0]), -1, dtype=np.int32)
    link = np.full((n, horizon), -1, dtype=np.int32)
    parked = np.full(moves.shape[0], -1, dtype=np.int64)
    paths = np.full((n, horizon), -1, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    until = None if seconds is None else time.perf_counter() + seconds
    collisions, passes, expired = 0, 0, False
    while not expired:
        change = 0
        for chunk in np.array_split(rng.permutation(n), max(1, n // CHUNK)):
            change += scatter_pass(
                chunk, inst.starts, inst.goals, margin, moves, dist, first, link, parked, paths,
                lengths,
            )  # fmt: skip
            expired = until is not None and time.perf_counter() > until
            if expired:
                break
        collisions += change
        passes += 1
        if collisions == 0 or (passes >= 2 and change >= 0) or passes >= max_passes:
            break
    return paths, lengths, collisions


def scatter(inst, margin: int = 10, seconds: float | None = None, seed: int = 0):
    """Scatter tables for ``inst`` (see the module docstring and :func:`scatter_paths`)."""
    paths, lengths, _ = scatter_paths(inst, margin, seconds, seed)
    return as_lookup(paths, lengths)
