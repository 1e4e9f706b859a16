"""The traffic step: vehicles in structure-of-arrays state, advanced by a Numba kernel.

State (capacity ``M`` vehicles): ``ints[field, i]`` and ``floats[field, i]`` with one row per
field, and driver parameters ``params[column, i]`` (see ``drivers.PARAM_NAMES``). One substep
of ``dt`` seconds:

1. sort vehicles by (lane, position) and find each one's leader: the next vehicle on its lane,
   else the first vehicle on the lane it continues onto (counting sort by lane, insertion sort
   within lanes: O(N) for the nearly sorted lanes of consecutive substeps; no pairwise loop);
2. junction control: a background vehicle that approaches a conflict zone reserves it when its
   light allows, no conflicting approach holds the zone, no higher-priority vehicle arrives
   within its critical gap, and the exit lane has room; until then the stop line is a
   stopped leader (reservation-based control, Dresner and Stone 2008);
3. accelerations: IDM for background drivers (``drivers.idm``), a proportional speed controller
   towards the target speed for controlled vehicles;
4. MOBIL lane changes (left on even substeps, right on odd ones, so that no two changes target
   the same gap from both sides);
5. ballistic integration (Treiber and Kanagaraj 2015), link transfers (a vehicle entering a
   slower link is capped at its limit), arrivals, and zone release;
6. collisions: overlapping vehicles on one lane, and vehicles of conflicting approaches inside
   one conflict zone; both are removed.

``leaders_reference``, ``accelerations_reference`` and ``ballistic_reference`` are NumPy
references of steps 1, 3 and 5 that the tests compare against the kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metagame.envs.traffic.drivers import (
    ACCEL,
    B_MAX,
    B_SAFE,
    CRITICAL_GAP,
    DECEL,
    FREE_GAP,
    HEADWAY,
    LENGTH,
    MIN_GAP,
    V0,
    idm,
    idm_reference,
    mobil_gain,
)
from metagame.envs.traffic.network import STRAIGHT

# Integer fields.
STATUS, LANE, NEXT, RES, BOX, FROM, CTRL, HOPS, UID, KIND = range(10)
NUM_INTS = 10
# Float fields.
POS, SPEED, ACC, TARGET, LC_TIMER, T_ENTER, FREE_TIME, DIST, T_EXIT = range(9)
NUM_FLOATS = 9
# Status values.
FREE, ACTIVE, ARRIVED, CRASHED = 0, 1, 2, 3
# Lights per link.
RED, YELLOW, GREEN = 0, 1, 2
# next_lane codes.
EXIT, DEAD_END = -1, -2

LC_COOLDOWN = 2.0  # s between lane changes of one driver
K_SPEED = 1.5  # 1/s, gain of the controlled vehicles' speed controller
A_CONTROLLED = 3.0  # m/s^2, controlled vehicles' maximum acceleration
STOP_MARGIN = 5.0  # m, extra look-ahead for reservation requests


def empty_state(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ints``, ``floats``, ``params`` arrays for ``capacity`` vehicles, all slots free."""
    ints = np.full((NUM_INTS, capacity), -1, dtype=np.int64)
    ints[STATUS] = FREE
    return ints, np.zeros((NUM_FLOATS, capacity)), np.ones((9, capacity))


@njit(cache=True, inline="always")
def next_lane(lane, nxt, lane_link, lane_index, link_lanes, link_lane0, conn_offset) -> int:
    """The lane a vehicle on ``lane`` heading for link ``nxt`` continues on (EXIT, DEAD_END)."""
    if nxt < 0:
        return EXIT
    j = lane_index[lane] + conn_offset[lane_link[lane], nxt]
    if j < 0 or j >= link_lanes[nxt]:
        return DEAD_END
    return link_lane0[nxt] + j


@njit(cache=True, inline="always")
def lane_after(lane, nxt, net) -> int:
    """:func:`next_lane` on a :class:`~metagame.envs.traffic.network.KernelNetwork`."""
    return next_lane(
        lane, nxt, net.lane_link, net.lane_index, net.link_lanes, net.link_lane0, net.conn_offset
    )


@njit(cache=True)
def sort_lanes(ints, floats, num_lanes):
    """Active vehicles sorted by (lane, position, slot): counting sort by lane, then insertion
    sort within each lane (nearly sorted from one substep to the next, so O(N) in practice).
    Returns ``order`` (sorted slots), ``rank`` (slot -> place in order) and each lane's
    [start, end) in ``order`` (empty lanes: start == end)."""
    m = ints.shape[1]
    count = np.zeros(num_lanes + 1, dtype=np.int64)
    for i in range(m):
        if ints[STATUS, i] == ACTIVE:
            count[ints[LANE, i] + 1] += 1
    start = np.cumsum(count)[:num_lanes]
    end = start.copy()
    order = np.empty(int(count.sum()), dtype=np.int64)
    for i in range(m):
        if ints[STATUS, i] == ACTIVE:
            lane = ints[LANE, i]
            order[end[lane]] = i
            end[lane] += 1
    for lane in range(num_lanes):
        for r in range(start[lane] + 1, end[lane]):
            i = order[r]
            x = floats[POS, i]
            q = r - 1
            while q >= start[lane] and floats[POS, order[q]] > x:
                order[q + 1] = order[q]
                q -= 1
            order[q + 1] = i
    rank = np.full(m, -1, dtype=np.int64)
    for r in range(order.shape[0]):
        rank[order[r]] = r
    return order, rank, start, end


@njit(cache=True)
def leaders(ints, floats, params, order, rank, start, end, net):
    """Each active vehicle's leader index (-1 none), bumper gap and leader speed."""
    m = ints.shape[1]
    lead = np.full(m, -1, dtype=np.int64)
    gap = np.full(m, FREE_GAP)
    v_lead = np.zeros(m)
    for i in range(m):
        if ints[STATUS, i] != ACTIVE:
            continue
        lane = ints[LANE, i]
        r = rank[i] + 1
        if r < end[lane]:
            j = order[r]
            lead[i] = j
            gap[i] = floats[POS, j] - params[LENGTH, j] - floats[POS, i]
            v_lead[i] = floats[SPEED, j]
            continue
        nl = lane_after(lane, ints[NEXT, i], net)
        if nl >= 0 and end[nl] > start[nl]:
            j = order[start[nl]]
            lead[i] = j
            rest = net.link_length[net.lane_link[lane]] - floats[POS, i]
            gap[i] = rest + floats[POS, j] - params[LENGTH, j]
            v_lead[i] = floats[SPEED, j]
    return lead, gap, v_lead


def leaders_reference(ints, floats, params, net):
    """NumPy reference of :func:`sort_lanes` + :func:`leaders` (lexsort and searchsorted)."""
    m = ints.shape[1]
    alive = np.flatnonzero(ints[STATUS] == ACTIVE)
    lane, pos = ints[LANE, alive], floats[POS, alive]
    order = alive[np.lexsort((alive, pos, lane))]
    lead = np.full(m, -1, dtype=np.int64)
    gap = np.full(m, FREE_GAP)
    v_lead = np.zeros(m)
    same = ints[LANE, order[1:]] == ints[LANE, order[:-1]]
    ahead, behind = order[1:][same], order[:-1][same]
    lead[behind] = ahead
    gap[behind] = floats[POS, ahead] - params[LENGTH, ahead] - floats[POS, behind]
    v_lead[behind] = floats[SPEED, ahead]
    sorted_lanes = ints[LANE, order]
    first = {}
    for k in range(len(order) - 1, -1, -1):
        first[int(sorted_lanes[k])] = order[k]
    front = np.setdiff1d(alive, behind)
    for i in front:
        nxt = ints[NEXT, i]
        if nxt < 0:
            continue
        lane_i = ints[LANE, i]
        j_idx = net.lane_index[lane_i] + net.conn_offset[net.lane_link[lane_i], nxt]
        if not 0 <= j_idx < net.link_lanes[nxt] or net.link_lane0[nxt] + j_idx not in first:
            continue
        j = first[net.link_lane0[nxt] + j_idx]
        lead[i] = j
        rest = net.link_length[net.lane_link[lane_i]] - floats[POS, i]
        gap[i] = rest + floats[POS, j] - params[LENGTH, j]
        v_lead[i] = floats[SPEED, j]
    return lead, gap, v_lead


@njit(cache=True, inline="always")
def stop_gap(i, lane, ints, floats, light, net) -> float:
    """Gap to the end of ``lane`` if vehicle ``i`` must stop there (dead end, unreserved zone
    or light), else FREE_GAP."""
    link = net.lane_link[lane]
    nl = lane_after(lane, ints[NEXT, i], net)
    rest = net.link_length[link] - floats[POS, i]
    if nl == DEAD_END:
        return rest
    if nl == EXIT:
        return FREE_GAP
    node = net.link_nodes[link, 1]
    if (net.node_box[node] or light[link] != GREEN) and ints[RES, i] != node:
        return rest
    return FREE_GAP


@njit(cache=True, inline="always")
def background_acc(i, lane, gap, v_lead, ints, floats, params, light, net) -> float:
    """IDM acceleration of background vehicle ``i`` on ``lane`` against a leader and the stop
    line."""
    limit = net.link_speed[net.lane_link[lane]]
    v = floats[SPEED, i]
    v0 = params[V0, i] * limit
    acc = idm(v, v0, gap, v_lead, params, i)
    sg = stop_gap(i, lane, ints, floats, light, net)
    if sg < FREE_GAP:
        acc = min(acc, idm(v, v0, sg, 0.0, params, i))
    return max(acc, -B_MAX)


@njit(cache=True)
def accelerations(ints, floats, params, gap, v_lead, light, net) -> None:
    """Sets ``floats[ACC]``: IDM against the leader and the stop line for background drivers,
    a proportional controller towards the target speed for controlled vehicles."""
    for i in range(ints.shape[1]):
        if ints[STATUS, i] != ACTIVE:
            continue
        lane = ints[LANE, i]
        if ints[CTRL, i] >= 0:
            limit = net.link_speed[net.lane_link[lane]]
            a = K_SPEED * (floats[TARGET, i] * limit - floats[SPEED, i])
            floats[ACC, i] = min(max(a, -B_MAX), A_CONTROLLED)
        else:
            floats[ACC, i] = background_acc(
                i, lane, gap[i], v_lead[i], ints, floats, params, light, net
            )


def accelerations_reference(ints, floats, params, gap, v_lead, light, net) -> np.ndarray:
    """NumPy reference of :func:`accelerations` (returns the accelerations of all slots)."""
    active = ints[STATUS] == ACTIVE
    lane = np.where(active, ints[LANE], 0)
    link = net.lane_link[lane]
    limit = net.link_speed[link]
    v = floats[SPEED]
    v0 = params[V0] * limit
    acc = idm_reference(v, v0, gap, v_lead, params)
    # The stop line: a dead end, or a junction that needs a reservation the vehicle lacks.
    nxt = ints[NEXT]
    index = net.lane_index[lane] + net.conn_offset[link, np.maximum(nxt, 0)]
    dead_end = (nxt >= 0) & ((index < 0) | (index >= net.link_lanes[np.maximum(nxt, 0)]))
    node = net.link_nodes[link, 1]
    needs = (net.node_box[node] | (light[link] != GREEN)) & (ints[RES] != node)
    stops = dead_end | ((nxt >= 0) & needs)
    rest = net.link_length[link] - floats[POS]
    at_line = idm_reference(v, v0, np.where(stops, rest, FREE_GAP), np.zeros_like(v), params)
    background = np.maximum(np.minimum(acc, np.where(stops, at_line, np.inf)), -B_MAX)
    controlled = np.clip(K_SPEED * (floats[TARGET] * limit - v), -B_MAX, A_CONTROLLED)
    out = np.where(ints[CTRL] >= 0, controlled, background)
    return np.where(active, out, 0.0)


@njit(cache=True)
def zone_holders(ints, net):
    """Per approach link, how many vehicles from it hold a conflict zone: a reservation for
    the zone ahead, or inside the zone having come from that link."""
    holders = np.zeros(net.link_length.shape[0], dtype=np.int64)
    for i in range(ints.shape[1]):
        if ints[STATUS, i] == ACTIVE:
            if ints[RES, i] >= 0:
                holders[net.lane_link[ints[LANE, i]]] += 1
            if ints[BOX, i] >= 0:
                holders[ints[FROM, i]] += 1
    return holders


@njit(cache=True)
def _grant(ints, floats, params, order, rank, start, end, light, holders, net):
    """Junction control: reserves conflict zones for approaching background vehicles."""
    m = ints.shape[1]
    cand = np.empty(m, dtype=np.int64)
    key = np.empty(m)
    n = 0
    for i in range(m):
        if ints[STATUS, i] != ACTIVE or ints[CTRL, i] >= 0 or ints[NEXT, i] < 0:
            continue
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        node = net.link_nodes[link, 1]
        if ints[RES, i] == node or not (net.node_box[node] or light[link] != GREEN):
            continue
        v = floats[SPEED, i]
        a = params[ACCEL, i]
        look = (
            params[MIN_GAP, i]
            + v * params[HEADWAY, i]
            + v * v / (2.0 * np.sqrt(a * params[DECEL, i]))
            + STOP_MARGIN
        )
        rest = net.link_length[link] - floats[POS, i]
        if rest > look:
            continue
        r = rank[i] + 1
        if r < end[lane] and ints[RES, order[r]] != node:
            continue  # a vehicle ahead on the lane still waits
        cand[n] = i
        key[n] = -net.link_priority[link] * 1e6 + rest
        n += 1
    chosen = np.argsort(key[:n], kind="mergesort")
    for c in range(n):
        i = cand[chosen[c]]
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        node = net.link_nodes[link, 1]
        rest = net.link_length[link] - floats[POS, i]
        v = floats[SPEED, i]
        if light[link] == RED:
            continue
        if light[link] == YELLOW and v * v / (2.0 * params[DECEL, i]) < rest - params[MIN_GAP, i]:
            continue  # can stop comfortably: stops
        blocked = False
        for k in range(net.node_in_ptr[node], net.node_in_ptr[node + 1]):
            b = net.node_in[k]
            if b == link or not net.link_conflict[link, b]:
                continue
            if holders[b] > 0:
                blocked = True
                break
            if net.link_priority[b] <= net.link_priority[link]:
                continue
            for bl in range(net.link_lane0[b], net.link_lane0[b] + net.link_lanes[b]):
                r = end[bl] - 1
                while r >= start[bl] and ints[RES, order[r]] == node:
                    r -= 1
                if r >= start[bl]:
                    j = order[r]
                    eta = (net.link_length[b] - floats[POS, j]) / max(floats[SPEED, j], 0.1)
                    if eta < params[CRITICAL_GAP, i]:
                        blocked = True
                        break
            if blocked:
                break
        if blocked:
            continue
        nl = lane_after(lane, ints[NEXT, i], net)
        if nl >= 0 and end[nl] > start[nl]:
            j = order[start[nl]]
            room = floats[POS, j] - params[LENGTH, j]
            if room < net.box_length + params[LENGTH, i] + params[MIN_GAP, i]:
                continue
        ints[RES, i] = node
        holders[link] += 1


@njit(cache=True, inline="always")
def _lane_change_target(i, lane, target, ints, floats, params, order, start, end, light, net):
    """MOBIL on one candidate lane: the own and the new follower's acceleration gains, or
    -inf when the change is unsafe (overlap, or the new follower brakes beyond ``B_SAFE``)."""
    link = net.lane_link[lane]
    pos = floats[POS, i]
    length_i = params[LENGTH, i]
    # New leader and follower on the target lane (binary search in its sorted range).
    lo, hi = start[target], end[target]
    while lo < hi:
        mid = (lo + hi) // 2
        if floats[POS, order[mid]] <= pos:
            lo = mid + 1
        else:
            hi = mid
    gap_front, v_front = FREE_GAP, 0.0
    if lo < end[target]:
        j = order[lo]
        gap_front = floats[POS, j] - params[LENGTH, j] - pos
        v_front = floats[SPEED, j]
    else:
        nl = lane_after(target, ints[NEXT, i], net)
        if nl >= 0 and end[nl] > start[nl]:
            j = order[start[nl]]
            gap_front = net.link_length[link] - pos + floats[POS, j] - params[LENGTH, j]
            v_front = floats[SPEED, j]
    if gap_front < 1.0:
        return -np.inf, 0.0
    follower = -1
    gap_back = FREE_GAP
    if lo - 1 >= start[target]:
        follower = order[lo - 1]
        gap_back = pos - length_i - floats[POS, follower]
    else:
        for k in range(net.lane_pred_ptr[target], net.lane_pred_ptr[target + 1]):
            p = net.lane_pred[k]
            if end[p] == start[p]:
                continue
            j = order[end[p] - 1]
            g = net.link_length[net.lane_link[p]] - floats[POS, j] + pos - length_i
            if g < gap_back:
                gap_back, follower = g, j
    if gap_back < 1.0:
        return -np.inf, 0.0
    new_follower_gain = 0.0
    if follower >= 0:
        f_lane = ints[LANE, follower]
        v0f = params[V0, follower] * net.link_speed[net.lane_link[f_lane]]
        a_f = idm(floats[SPEED, follower], v0f, gap_back, floats[SPEED, i], params, follower)
        if a_f < -B_SAFE:
            return -np.inf, 0.0
        new_follower_gain = a_f - floats[ACC, follower]
    a_new = background_acc(i, target, gap_front, v_front, ints, floats, params, light, net)
    return a_new - floats[ACC, i], new_follower_gain


@njit(cache=True, inline="always")
def _old_follower_gain(
    i, lane, ints, floats, params, order, rank, start, end, lead, gap, v_lead, light, net
) -> float:
    """The old follower's acceleration gain when ``i`` leaves ``lane``."""
    r = rank[i] - 1
    if r < start[lane]:
        return 0.0
    o = order[r]
    if ints[CTRL, o] >= 0:
        return 0.0
    new_gap = gap[i] + floats[POS, i] - floats[POS, o] if lead[i] >= 0 else FREE_GAP
    a_new = background_acc(o, lane, new_gap, v_lead[i], ints, floats, params, light, net)
    return a_new - floats[ACC, o]


@njit(cache=True)
def _route_choice(uid, hops, n) -> int:
    """A deterministic pseudo-random choice in [0, n) from a vehicle's id and hop count."""
    x = (uid * 1103515245 + hops * 12345 + 2654435761) % 2147483647
    x = (x * 48271) % 2147483647
    x = (x * 48271) % 2147483647
    return x % n


@njit(cache=True)
def choose_next(i, link, ints, net) -> int:
    """Next link after ``link``: controlled vehicles keep straight by default (their route
    action may change it), background drivers pick uniformly among the allowed turns."""
    node = net.link_nodes[link, 1]
    count = 0
    best = -1
    for k in range(net.node_out_ptr[node], net.node_out_ptr[node + 1]):
        o = net.node_out[k]
        if net.conn_turn[link, o] >= 0:
            count += 1
            if net.conn_turn[link, o] == STRAIGHT or best < 0:
                best = o
    if count == 0:
        return -1
    if ints[CTRL, i] >= 0:
        return best
    pick = _route_choice(ints[UID, i], ints[HOPS, i], count)
    for k in range(net.node_out_ptr[node], net.node_out_ptr[node + 1]):
        o = net.node_out[k]
        if net.conn_turn[link, o] >= 0:
            if pick == 0:
                return o
            pick -= 1
    return -1


@njit(cache=True)
def ballistic(v: float, a: float, dt: float):
    """Ballistic update of one vehicle: new speed and distance covered (stops at zero)."""
    v_new = v + a * dt
    if v_new < 0.0:
        return 0.0, -v * v / (2.0 * a)
    return v_new, v * dt + 0.5 * a * dt * dt


def ballistic_reference(v: np.ndarray, a: np.ndarray, dt: float):
    """NumPy reference of :func:`ballistic` over arrays."""
    v_new = v + a * dt
    stops = v_new < 0.0
    stop_distance = -(v**2) / (2.0 * np.where(stops, a, -1.0))
    return np.maximum(v_new, 0.0), np.where(stops, stop_distance, v * dt + 0.5 * a * dt**2)


@njit(cache=True)
def substep(ints, floats, params, light, net, t, dt, parity, totals, link_delay):
    """Advances the state by one substep of ``dt`` seconds (in place)."""
    m = ints.shape[1]
    num_lanes = net.lane_link.shape[0]
    order, rank, start, end = sort_lanes(ints, floats, num_lanes)
    lead, gap, v_lead = leaders(ints, floats, params, order, rank, start, end, net)

    holders = zone_holders(ints, net)
    _grant(ints, floats, params, order, rank, start, end, light, holders, net)

    accelerations(ints, floats, params, gap, v_lead, light, net)

    # MOBIL lane changes, decided on the pre-change state, applied together.
    direction = 1 if parity == 0 else -1
    change = np.full(m, -1, dtype=np.int64)
    for i in range(m):
        if ints[STATUS, i] != ACTIVE or ints[CTRL, i] >= 0 or floats[LC_TIMER, i] > 0.0:
            continue
        if ints[RES, i] >= 0 or ints[BOX, i] >= 0:
            continue
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        idx = net.lane_index[lane] + direction
        if idx < 0 or idx >= net.link_lanes[link]:
            continue
        rest = net.link_length[link] - floats[POS, i]
        if (rest < 10.0 and net.node_box[net.link_nodes[link, 1]]) or floats[POS, i] < params[
            LENGTH, i
        ]:
            continue
        target = net.link_lane0[link] + idx
        self_gain, new_follower_gain = _lane_change_target(
            i, lane, target, ints, floats, params, order, start, end, light, net
        )
        if self_gain == -np.inf:
            continue
        old_follower_gain = _old_follower_gain(
            i, lane, ints, floats, params, order, rank, start, end, lead, gap, v_lead, light, net
        )
        if mobil_gain(self_gain, new_follower_gain, old_follower_gain, params, i) > 0.0:
            change[i] = target
    for i in range(m):
        if change[i] >= 0:
            ints[LANE, i] = change[i]
            floats[LC_TIMER, i] = LC_COOLDOWN

    # Integration, transfers, arrivals, zone release.
    for i in range(m):
        if ints[STATUS, i] != ACTIVE:
            continue
        floats[LC_TIMER, i] -= dt
        v, ds = ballistic(floats[SPEED, i], floats[ACC, i], dt)
        floats[SPEED, i] = v
        floats[POS, i] += ds
        floats[DIST, i] += ds
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        totals[0] += dt
        totals[1] += ds
        link_delay[link] += dt * (1.0 - v / net.link_speed[link])
        if floats[POS, i] >= net.link_length[link]:
            floats[FREE_TIME, i] += net.link_length[link] / net.link_speed[link]
            nl = lane_after(lane, ints[NEXT, i], net)
            if nl == EXIT:
                ints[STATUS, i] = ARRIVED
                floats[T_EXIT, i] = t + dt
                continue
            if nl == DEAD_END:
                ints[STATUS, i] = CRASHED  # drove off the end of a lane
                floats[T_EXIT, i] = t + dt
                continue
            node = net.link_nodes[link, 1]
            floats[POS, i] -= net.link_length[link]
            ints[LANE, i] = nl
            nxt = net.lane_link[nl]
            if ints[RES, i] == node or net.node_box[node]:
                ints[BOX, i] = node
                ints[FROM, i] = link
            ints[RES, i] = -1
            floats[SPEED, i] = min(floats[SPEED, i], net.link_speed[nxt])
            ints[HOPS, i] += 1
            ints[NEXT, i] = choose_next(i, nxt, ints, net)
        if ints[BOX, i] >= 0 and floats[POS, i] - params[LENGTH, i] >= net.box_length:
            ints[BOX, i] = -1

    # Collisions: overlaps on a lane, conflicting approaches inside one zone.
    order, rank, start, end = sort_lanes(ints, floats, num_lanes)
    lead, gap, v_lead = leaders(ints, floats, params, order, rank, start, end, net)
    crashed = np.zeros(m, dtype=np.bool_)
    for i in range(m):
        if lead[i] < 0 or gap[i] >= 0.0:
            continue
        link = net.lane_link[ints[LANE, i]]
        if ints[LANE, lead[i]] == ints[LANE, i] or not net.node_box[net.link_nodes[link, 1]]:
            crashed[i] = True
            crashed[lead[i]] = True
    in_box = np.flatnonzero((ints[BOX] >= 0) & (ints[STATUS] == ACTIVE))
    by_node = in_box[np.argsort(ints[BOX, in_box], kind="mergesort")]
    for p in range(by_node.shape[0]):
        i = by_node[p]
        for q in range(p + 1, by_node.shape[0]):
            j = by_node[q]
            if ints[BOX, j] != ints[BOX, i]:
                break
            if net.link_conflict[ints[FROM, i], ints[FROM, j]]:
                crashed[i] = True
                crashed[j] = True
    for i in range(m):
        if crashed[i]:
            ints[STATUS, i] = CRASHED
            floats[T_EXIT, i] = t + dt


@njit(cache=True)
def simulate(ints, floats, params, light, net, t, dt, substeps, totals, link_delay) -> None:
    """``substeps`` substeps from time ``t`` (in place); vehicles that arrive or crash stop
    there. ``net`` is ``Network.kernel_arrays()``."""
    for k in range(substeps):
        substep(ints, floats, params, light, net, t + k * dt, dt, k % 2, totals, link_delay)
