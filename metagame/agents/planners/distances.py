"""Lazy goal-distance tables: BFS from each goal, expanded only as far as a query needs.

PIBT and LaCAM ask ``dist(i, v)`` (hops from ``v`` to agent ``i``'s goal) only for vertices
near the agents' paths, so a full BFS per agent wastes most of its work on large maps (den520d,
lak303d). The table keeps, per agent, the BFS frontier (``queue[i, head[i]:tail[i]]``) and
resumes it until ``v`` is labelled; a vertex is labelled when first reached, which in BFS order
is its exact distance (Okumura, "Improving LaCAM for Scalable Eventually Optimal Multi-Agent
Pathfinding", IJCAI 2023, evaluates the table lazily in the same way).

``lazy_distance`` is the Numba kernel; :class:`DistanceTable` wraps the arrays, and
``full()`` finishes every BFS for the planners that read whole rows (A*, CBS). Vertices that
cannot reach the goal get :data:`metagame.envs.mapf.maps.UNREACHABLE`, as in
:func:`metagame.envs.mapf.maps.bfs_distances`. The table stores distance + 1, so that 0 means
"not labelled yet" and the ``(n, V)`` arrays come from the OS zeroed: pages the searches never
reach are never touched (on den520d with 400 agents, filling a table of -1 took longer than
the search).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.envs.mapf.maps import UNREACHABLE

UNKNOWN = 0  # stored values are distance + 1


@njit(cache=True)
def _expand(table, queue, head, tail, moves, i):
    """Pops one vertex from agent ``i``'s BFS queue and labels its unlabelled neighbours."""
    x = queue[i, head[i]]
    head[i] += 1
    for a in range(1, moves.shape[1]):
        u = moves[x, a]
        if u >= 0 and table[i, u] == UNKNOWN:
            table[i, u] = table[i, x] + 1
            queue[i, tail[i]] = u
            tail[i] += 1


@njit(cache=True)
def lazy_distance(table, queue, head, tail, moves, i, v):
    """``table[i, v]``, resuming agent ``i``'s BFS from its goal until ``v`` is labelled."""
    while table[i, v] == UNKNOWN and head[i] < tail[i]:
        _expand(table, queue, head, tail, moves, i)
    if table[i, v] == UNKNOWN:  # the search is exhausted: v cannot reach the goal
        return UNREACHABLE
    return table[i, v] - 1


@njit(cache=True)
def distances_at(table, queue, head, tail, moves, config):
    """``table[i, config[i]]`` for every agent, searching lazily."""
    out = np.empty(config.shape[0], dtype=np.int64)
    for i in range(config.shape[0]):
        out[i] = lazy_distance(table, queue, head, tail, moves, i, config[i])
    return out


@njit(cache=True)
def finish(table, queue, head, tail, moves):
    """Completes every agent's BFS; the ``(n, V)`` distances (``UNREACHABLE`` where none)."""
    n, num_vertices = table.shape
    out = np.empty((n, num_vertices), dtype=np.int32)
    for i in range(n):
        while head[i] < tail[i]:
            _expand(table, queue, head, tail, moves, i)
        for v in range(num_vertices):
            out[i, v] = UNREACHABLE if table[i, v] == UNKNOWN else table[i, v] - 1
    return out


class DistanceTable:
    """Per-agent BFS distances to the goals, computed on demand.

    ``arrays`` is the ``(table, queue, head, tail)`` tuple the Numba kernels take.
    """

    def __init__(self, moves: np.ndarray, goals: np.ndarray):
        n, num_vertices = len(goals), moves.shape[0]
        self.moves = moves
        self.table = np.zeros((n, num_vertices), dtype=np.int32)
        self.queue = np.empty((n, num_vertices), dtype=np.int32)
        self.queue[:, 0] = goals
        self.table[np.arange(n), goals] = 1
        self.head = np.zeros(n, dtype=np.int64)
        self.tail = np.ones(n, dtype=np.int64)
        self._full: np.ndarray | None = None

    @property
    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.table, self.queue, self.head, self.tail

    def retarget(self, i: int, goal: int) -> None:
        """Agent ``i`` has a new goal: its row starts a fresh search."""
        self.table[i] = UNKNOWN
        self.table[i, goal] = 1
        self.queue[i, 0] = goal
        self.head[i], self.tail[i] = 0, 1
        self._full = None

    def get(self, i: int, v: int) -> int:
        return int(lazy_distance(*self.arrays, self.moves, i, v))

    def at(self, config: np.ndarray) -> np.ndarray:
        """``dist(i, config[i])`` for every agent."""
        return distances_at(*self.arrays, self.moves, config)

    def full(self) -> np.ndarray:
        """The complete ``(n, V)`` table (finishing every search once)."""
        if self._full is None:
            self._full = finish(*self.arrays, self.moves)
        return self._full
