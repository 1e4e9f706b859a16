"""Observations of controlled vehicles, computed for all of them at once in Numba kernels.

A vehicle sees (1) its ``k`` nearest vehicles within ``obs_range`` — presence, position and
velocity relative to it in its own frame (forward, left), as in highway-env's kinematics
observation (Leurent 2018) — and (2) its own features: speed and target speed as fractions of
the limit, lane index and count, distance to the junction ahead, speed limit, light ahead,
whether the junction has a conflict zone and whether a foe of its movement is held there, the
turns available there, the turn chosen and whether the link leaves the network. The action
mask has the meta-actions legal now. ``neighbour_features_reference`` is the NumPy reference
the tests compare with.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.envs.traffic.core import (
    ACTIVE,
    BOX,
    LANE,
    NEXT,
    POS,
    SPEED,
    STATUS,
    TARGET,
    zone_holders,
)
from metagame.envs.traffic.drivers import LENGTH
from metagame.envs.traffic.network import LANE_WIDTH

NEIGHBOUR_FEATURES = 5  # presence, forward, left, forward speed, left speed (relative)
EGO_FEATURES = 16
NUM_ACTIONS = 8
KEEP, FASTER, SLOWER, LANE_LEFT, LANE_RIGHT, ROUTE_LEFT, ROUTE_STRAIGHT, ROUTE_RIGHT = range(8)
ACTION_NAMES = (
    "keep",
    "faster",
    "slower",
    "lane_left",
    "lane_right",
    "route_left",
    "route_straight",
    "route_right",
)


@njit(cache=True)
def world_positions(ints, floats, params, net):
    """Centre points and unit headings ``(M, 2)`` of every slot (zeros for free slots): lanes
    are offset to the right of the straight line between their link's nodes, lane 0 outermost."""
    m = ints.shape[1]
    xy = np.zeros((m, 2))
    heading = np.zeros((m, 2))
    for i in range(m):
        if ints[STATUS, i] != ACTIVE:
            continue
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        a = net.link_nodes[link, 0]
        b = net.link_nodes[link, 1]
        dx = net.node_xy[b, 0] - net.node_xy[a, 0]
        dy = net.node_xy[b, 1] - net.node_xy[a, 1]
        norm = np.sqrt(dx * dx + dy * dy)
        hx, hy = dx / norm, dy / norm
        along = (floats[POS, i] - 0.5 * params[LENGTH, i]) / net.link_length[link]
        offset = (net.link_lanes[link] - net.lane_index[lane] - 0.5) * LANE_WIDTH
        xy[i, 0] = net.node_xy[a, 0] + dx * along + hy * offset
        xy[i, 1] = net.node_xy[a, 1] + dy * along - hx * offset
        heading[i, 0] = hx
        heading[i, 1] = hy
    return xy, heading


@njit(cache=True)
def neighbour_features(egos, ints, floats, xy, heading, k, obs_range, speed_scale):
    """For each ego slot, its ``k`` nearest active vehicles within ``obs_range`` (by distance,
    then slot): presence, relative position (forward, left) / range and relative velocity /
    ``speed_scale`` in the ego's frame; ``(len(egos), k, 5)``."""
    m = ints.shape[1]
    out = np.zeros((egos.shape[0], k, 5))
    dist = np.empty(m)
    for e in range(egos.shape[0]):
        i = egos[e]
        hx, hy = heading[i, 0], heading[i, 1]
        vx, vy = hx * floats[SPEED, i], hy * floats[SPEED, i]
        for j in range(m):
            dist[j] = np.inf
            if j != i and ints[STATUS, j] == ACTIVE:
                d = np.hypot(xy[j, 0] - xy[i, 0], xy[j, 1] - xy[i, 1])
                if d <= obs_range:
                    dist[j] = d
        near = np.argsort(dist, kind="mergesort")[:k]
        for n in range(near.shape[0]):
            j = near[n]
            if dist[j] == np.inf:
                break
            rx, ry = xy[j, 0] - xy[i, 0], xy[j, 1] - xy[i, 1]
            wx = heading[j, 0] * floats[SPEED, j] - vx
            wy = heading[j, 1] * floats[SPEED, j] - vy
            out[e, n, 0] = 1.0
            out[e, n, 1] = (hx * rx + hy * ry) / obs_range
            out[e, n, 2] = (-hy * rx + hx * ry) / obs_range
            out[e, n, 3] = (hx * wx + hy * wy) / speed_scale
            out[e, n, 4] = (-hy * wx + hx * wy) / speed_scale
    return out


def neighbour_features_reference(egos, ints, floats, xy, heading, k, obs_range, speed_scale):
    """NumPy reference of :func:`neighbour_features`."""
    active = np.flatnonzero(ints[STATUS] == ACTIVE)
    out = np.zeros((len(egos), k, NEIGHBOUR_FEATURES))
    velocity = heading * floats[SPEED][:, None]
    for e, i in enumerate(egos):
        others = active[active != i]
        rel = xy[others] - xy[i]
        dist = np.hypot(rel[:, 0], rel[:, 1])
        keep = dist <= obs_range
        others, rel, dist = others[keep], rel[keep], dist[keep]
        pick = np.lexsort((others, dist))[:k]
        h = heading[i]
        to_ego = np.array([[h[0], h[1]], [-h[1], h[0]]])
        out[e, : len(pick), 0] = 1.0
        out[e, : len(pick), 1:3] = rel[pick] @ to_ego.T / obs_range
        out[e, : len(pick), 3:5] = (velocity[others[pick]] - velocity[i]) @ to_ego.T / speed_scale
    return out


@njit(cache=True)
def vehicle_masks(egos, ints, floats, turns, net):
    """Legal meta-actions ``(len(egos), 8)`` int8: keep always; faster/slower below/above the
    limits of the target speed; a lane change to an existing lane outside a conflict zone; a
    turn that exists at the junction ahead."""
    out = np.zeros((egos.shape[0], NUM_ACTIONS), dtype=np.int8)
    for e in range(egos.shape[0]):
        i = egos[e]
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        index = net.lane_index[lane]
        outside = ints[BOX, i] < 0
        out[e, KEEP] = 1
        out[e, FASTER] = floats[TARGET, i] < 1.0
        out[e, SLOWER] = floats[TARGET, i] > 0.0
        out[e, LANE_LEFT] = outside and index + 1 < net.link_lanes[link]
        out[e, LANE_RIGHT] = outside and index > 0
        for turn in range(3):
            out[e, ROUTE_LEFT + turn] = turns[link, turn] >= 0
    return out


@njit(cache=True)
def ego_features(egos, ints, floats, light, turns, net, obs_range, speed_scale):
    """Own features ``(len(egos), EGO_FEATURES)`` of each ego slot (see the module docstring)."""
    holders = zone_holders(ints, net)
    out = np.zeros((egos.shape[0], EGO_FEATURES))
    for e in range(egos.shape[0]):
        i = egos[e]
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        node = net.link_nodes[link, 1]
        limit = net.link_speed[link]
        out[e, 0] = floats[SPEED, i] / limit
        out[e, 1] = floats[TARGET, i]
        out[e, 2] = net.lane_index[lane] / max(net.link_lanes[link] - 1, 1)
        out[e, 3] = min(net.link_lanes[link] / 4.0, 1.0)
        out[e, 4] = min((net.link_length[link] - floats[POS, i]) / obs_range, 1.0)
        out[e, 5] = min(limit / speed_scale, 1.0)
        out[e, 6] = 0.5 * light[link]  # red 0, yellow 0.5, green 1
        out[e, 7] = net.node_box[node]
        nxt = ints[NEXT, i]
        if nxt >= 0:
            m = net.conn_move[link, nxt]
            for k in range(net.move_foe_ptr[m], net.move_foe_ptr[m + 1]):
                if holders[net.move_foe[k]] > 0:
                    out[e, 8] = 1.0
        for turn in range(3):
            out[e, 9 + turn] = turns[link, turn] >= 0
        if nxt >= 0:
            out[e, 12 + net.conn_turn[link, nxt]] = 1.0
        else:
            out[e, 15] = 1.0
    return out
