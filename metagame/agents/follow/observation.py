"""What the learned follower of Learn to Follow sees (Skrynnik et al., AAAI 2024).

Per agent a ``(3, 2R+1, 2R+1)`` window centred on it: channel 0 obstacles and channel 1 other
agents, both as the MAPF env observes them (:mod:`metagame.envs.mapf.core`), and channel 2 the
next ``horizon`` cells of its own planned path (:class:`CongestionPlanner`), 1 where the path
runs inside the window. The goal itself is not shown: the follower learns to follow the path
and to keep out of the others' way, and the planner alone knows where the path leads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.envs.mapf.core import AGENTS, OBSTACLES

NUM_CHANNELS = 3
PATH = 2


@njit(cache=True)
def path_channel(ahead, position, active, cells, radius):
    """``(n, 2R+1, 2R+1)`` float32: 1 on the cells of ``ahead[i]`` inside agent i's window."""
    n, horizon = ahead.shape
    size = 2 * radius + 1
    out = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        if not active[i]:
            continue
        r0, c0 = cells[position[i], 0], cells[position[i], 1]
        for k in range(horizon):
            v = ahead[i, k]
            if v < 0:
                break
            dr = cells[v, 0] - r0 + radius
            dc = cells[v, 1] - c0 + radius
            if 0 <= dr < size and 0 <= dc < size:
                out[i, dr, dc] = 1.0
    return out


def path_channel_reference(ahead, position, active, cells, radius):
    """NumPy reference of :func:`path_channel`."""
    size = 2 * radius + 1
    out = np.zeros((len(position), size, size), dtype=np.float32)
    for i in np.flatnonzero(active):
        verts = ahead[i][ahead[i] >= 0]
        local = cells[verts] - cells[position[i]] + radius
        local = local[((local >= 0) & (local < size)).all(axis=1)]
        out[i, local[:, 0], local[:, 1]] = 1.0
    return out


def follower_observation(env_obs, ahead, position, active, cells, radius) -> np.ndarray:
    """``(n, 3, S, S)`` float32 from the env's ``(n, 4, S, S)`` observations and the plans."""
    out = np.empty((len(env_obs), NUM_CHANNELS, *env_obs.shape[2:]), dtype=np.float32)
    out[:, 0] = env_obs[:, OBSTACLES]
    out[:, 1] = env_obs[:, AGENTS]
    out[:, PATH] = path_channel(ahead, position, active, cells, radius)
    return out
