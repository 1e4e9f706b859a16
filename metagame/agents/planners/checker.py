"""An independent solution checker: works on raw (row, col) paths and the grid alone.

``check(grid, starts, goals, paths)`` raises ``ValueError`` naming the first problem: wrong
shape, a start or goal mismatch, a step onto a blocked cell or off the map, a jump (more than
one 4-connected move), a vertex conflict (two agents in one cell) or a swap conflict (two agents
exchanging cells). ``sum_of_costs`` and ``makespan`` use the standard definitions: an agent's
cost is the time it reaches its goal for the last time.
"""

from __future__ import annotations

import numpy as np


def check(grid, starts, goals, paths) -> None:
    grid = np.asarray(grid, dtype=bool)
    paths = np.asarray(paths)
    starts, goals = np.asarray(starts), np.asarray(goals)
    if paths.ndim != 3 or paths.shape[1:] != (len(starts), 2):
        raise ValueError(f"paths must have shape (T+1, {len(starts)}, 2), got {paths.shape}")
    if (paths[0] != starts).any():
        raise ValueError("paths do not begin at the starts")
    if (paths[-1] != goals).any():
        raise ValueError("paths do not end at the goals")
    h, w = grid.shape
    rows, cols = paths[..., 0], paths[..., 1]
    if ((rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)).any():
        raise ValueError("a path leaves the map")
    if grid[rows, cols].any():
        t, i = np.argwhere(grid[rows, cols])[0]
        raise ValueError(f"agent {i} stands on a blocked cell at time {t}")
    jumps = np.abs(np.diff(paths, axis=0)).sum(axis=2) > 1
    if jumps.any():
        t, i = np.argwhere(jumps)[0]
        raise ValueError(f"agent {i} jumps between times {t} and {t + 1}")
    for t in range(len(paths)):
        cells = [tuple(c) for c in paths[t]]
        if len(set(cells)) != len(cells):
            raise ValueError(f"vertex conflict at time {t}")
        if t == 0:
            continue
        before = {tuple(c): i for i, c in enumerate(paths[t - 1])}
        for i, c in enumerate(cells):
            j = before.get(c)
            if j is not None and j != i and tuple(paths[t - 1][i]) == cells[j]:
                raise ValueError(f"swap conflict between agents {i} and {j} at time {t}")


def costs(paths, goals) -> np.ndarray:
    """Per-agent cost: the last time an agent arrives at its goal (0 if it never leaves)."""
    paths, goals = np.asarray(paths), np.asarray(goals)
    off = (paths != goals[None]).any(axis=2)
    last_off = np.where(off.any(axis=0), len(paths) - 1 - np.argmax(off[::-1], axis=0), -1)
    return last_off + 1


def sum_of_costs(paths, goals) -> int:
    return int(costs(paths, goals).sum())


def makespan(paths, goals) -> int:
    return int(costs(paths, goals).max())
