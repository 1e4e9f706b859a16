"""The traffic step: vehicles in structure-of-arrays state, advanced by a Numba kernel.

State (capacity ``M`` vehicles): ``ints[field, i]`` and ``floats[field, i]`` with one row per
field, and driver parameters ``params[column, i]`` (see ``drivers.PARAM_NAMES``). One substep
of ``dt`` seconds:

1. sort vehicles by (lane, position) and find each one's leader: the next vehicle on its lane,
   else the first vehicle on the lane it continues onto (counting sort by lane, insertion sort
   within lanes: O(N) for the nearly sorted lanes of consecutive substeps; no pairwise loop);
2. junction control: a background vehicle that approaches a conflict zone reserves its
   movement (in-link, out-link) when its light allows, no foe movement (``network.py``) is
   held, no vehicle of a foe movement it yields to (higher priority, or going straight or
   right against its left turn) arrives within its critical gap, and the exit lane has room;
   until then the stop line is a stopped leader (reservation-based control, Dresner and
   Stone 2008);
3. accelerations: IDM for background drivers (``drivers.idm``), a proportional speed controller
   towards the target speed for controlled vehicles;
4. MOBIL lane changes (left on even substeps, right on odd ones, so that no two changes target
   the same gap from both sides), safe for the new follower and for the changing driver
   behind its new leader, which may be a driver of its own lane changing into the same gap;
5. ballistic integration (Treiber and Kanagaraj 2015), link transfers (a vehicle entering a
   slower link is capped at its limit, times its speed factor when that is above 1),
   arrivals, and zone release;
6. collisions: overlapping vehicles on one lane, and vehicles of foe movements inside one
   conflict zone; both are removed.

:func:`substep` runs one kernel a step: the lanes sorted and the leaders found
(:func:`sort_lanes`, :func:`leaders`), :func:`reserve_zones`, :func:`accelerations`,
:func:`change_lanes`, :func:`advance`, the collisions (:func:`collisions`). The network
reaches them as one ``KernelNetwork`` NamedTuple.

Reference counts: Numba increments and decrements the count of every array that a function,
or a helper inlined into it, receives (an atomic update through a function call, at its
entry and at each exit), which was most of a substep's time (measured, 2 substeps a step:
the 6 x 6 SUMO grid at 150 vehicles 70 -> 35 us a step, SUMO's cross example at 30 vehicles
17.6 -> 9.0 us, both with no vehicle 11 -> 5.8 and 8.6 -> 3.8 us). The kernels of a step
(here, in ``flow.py`` and ``signals.py``) are therefore compiled with ``_nrt=False``, the
underscored option of Numba's ``jit`` for code without its runtime: no reference counts, and
Numba refuses to compile an allocation or a returned array that is not an argument in them
(without the option they would run the same, only slower). They work in a :class:`Scratch`
of arrays that :func:`simulate` or ``flow.run_world`` allocates once a call, and visit the
active vehicles that the sort lists once a substep (``Scratch.active``) rather than every
slot. The functions that tests and other modules call (``sort_lanes``, ``leaders``,
``collisions``, ``lane_change_candidates``, ``change_lanes``, ``zone_holders``) allocate
their results and run the same kernels.

``leaders_reference``, ``accelerations_reference``, ``lane_change_candidates_reference``,
``ballistic_reference`` and ``collisions_reference`` are NumPy references of steps 1, 3, 4
(which vehicles may change lanes), 5 and 6 that the tests compare against the kernels.
"""

from __future__ import annotations

from typing import NamedTuple

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
from metagame.envs.traffic.network import LEFT, STRAIGHT

# Integer fields.
STATUS, LANE, NEXT, RES, BOX, MOVE, CTRL, HOPS, UID, KIND, ROUTE, ROUTE_END, AGENT = range(13)
NUM_INTS = 13
# Float fields.
POS, SPEED, ACC, TARGET, LC_TIMER, T_ENTER, FREE_TIME, DIST, T_EXIT = range(9)
NUM_FLOATS = 9
# Status values.
FREE, ACTIVE, ARRIVED, CRASHED = 0, 1, 2, 3
# Lights per link.
RED, YELLOW, GREEN = 0, 1, 2
# Rows of the running totals: ``simulate`` adds to the first two, ``flow.retire`` to the others
# (over vehicles that arrived).
VEHICLE_SECONDS, VEHICLE_METRES, TRAVEL_TIME, TRAVEL_DELAY = range(4)
# next_lane codes.
EXIT, DEAD_END = -1, -2

LC_COOLDOWN = 2.0  # s between lane changes of one driver
K_SPEED = 1.5  # 1/s, gain of the controlled vehicles' speed controller
A_CONTROLLED = 3.0  # m/s^2, controlled vehicles' maximum acceleration
STOP_MARGIN = 5.0  # m, extra look-ahead for reservation requests


class LaneOrder(NamedTuple):
    """Active vehicles sorted by (lane, position, slot) (:func:`sort_lanes`)."""

    order: np.ndarray  # sorted slots
    rank: np.ndarray  # slot -> place in ``order`` (-1 inactive)
    start: np.ndarray  # per lane, its first place in ``order``
    end: np.ndarray  # per lane, one past its last place (empty lane: start == end)


class Leaders(NamedTuple):
    """Each slot's leader (:func:`leaders`)."""

    lead: np.ndarray  # leader slot, -1 none
    gap: np.ndarray  # bumper-to-bumper gap, FREE_GAP without a leader
    v_lead: np.ndarray  # leader speed


class Scratch(NamedTuple):
    """Work arrays of the kernels of a step (:func:`scratch`), allocated once a call of
    :func:`simulate` or of ``flow.run_world``: the kernels of a step allocate nothing."""

    order: np.ndarray  # per slot: LaneOrder
    rank: np.ndarray
    start: np.ndarray  # per lane
    end: np.ndarray
    lead: np.ndarray  # per slot: Leaders
    gap: np.ndarray
    v_lead: np.ndarray
    crashed: np.ndarray  # per slot: collisions
    in_box: np.ndarray
    requests: np.ndarray  # per slot: reservation requests and their keys
    key: np.ndarray
    holders: np.ndarray  # per movement
    slots: np.ndarray  # per slot: lane-change candidates, their target lanes and decisions
    targets: np.ndarray
    change: np.ndarray
    behind: np.ndarray
    acc: np.ndarray
    acc_behind: np.ndarray
    keep: np.ndarray
    active: np.ndarray  # per slot: the active vehicles' slots in slot order (sort_lanes)
    free: np.ndarray  # per lane: flow.insert_demand's free and still open room
    room: np.ndarray
    blocked: np.ndarray  # per link: flow.insert_demand's links that admit no more this step


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
def lane_miss(lane, nxt, lane_link, lane_index, link_lanes, conn_offset) -> int:
    """How many lanes a vehicle on ``lane`` heading for link ``nxt`` is away from a lane
    that continues onto it (0: it continues, or ``nxt`` < 0)."""
    if nxt < 0:
        return 0
    j = lane_index[lane] + conn_offset[lane_link[lane], nxt]
    return max(0, -j, j - link_lanes[nxt] + 1)


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
    order, rank = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    start, end = np.empty(num_lanes, dtype=np.int64), np.empty(num_lanes, dtype=np.int64)
    n = _sort_into(ints, floats, order, rank, start, end, np.empty(m, dtype=np.int64))
    return LaneOrder(order[:n], rank, start, end)


@njit(cache=True, _nrt=False)
def _sort_into(ints, floats, order, rank, start, end, active) -> int:
    """:func:`sort_lanes` into ``order``, ``rank``, ``start`` and ``end`` (one entry a slot or
    lane), and the active vehicles' slots in slot order into ``active`` (the one pass over
    all slots of a substep: the later kernels visit ``active[:n]``); returns how many (n)."""
    num_lanes = start.shape[0]
    n = 0
    for i in range(ints.shape[1]):
        if ints[STATUS, i] == ACTIVE:
            active[n] = i
            n += 1
    start[:] = 0
    for i in active[:n]:
        if ints[LANE, i] + 1 < num_lanes:
            start[ints[LANE, i] + 1] += 1
    for lane in range(num_lanes):  # counts -> first places
        if lane > 0:
            start[lane] += start[lane - 1]
        end[lane] = start[lane]
    for i in active[:n]:
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
    rank[:] = -1
    for r in range(n):
        rank[order[r]] = r
    return n


@njit(cache=True)
def leaders(ints, floats, params, order, rank, start, end, net):
    """Each active vehicle's leader index (-1 none), bumper gap and leader speed."""
    m = ints.shape[1]
    ahead = Leaders(np.empty(m, dtype=np.int64), np.empty(m), np.empty(m))
    _leaders_into(ints, floats, params, order, rank, start, end, net, ahead)
    return ahead


@njit(cache=True, _nrt=False)
def _leaders_into(ints, floats, params, order, rank, start, end, net, ahead) -> None:
    """:func:`leaders` into ``ahead`` (a :class:`Leaders` of one entry a slot)."""
    lead, gap, v_lead = ahead
    lead[:] = -1
    gap[:] = FREE_GAP
    v_lead[:] = 0.0
    lane_link, lane_index, link_lanes = net.lane_link, net.lane_index, net.link_lanes
    link_lane0, offset = net.link_lane0, net.conn_offset
    for i in order:  # the active vehicles
        lane = ints[LANE, i]
        r = rank[i] + 1
        if r < end[lane]:
            j = order[r]
            lead[i] = j
            gap[i] = floats[POS, j] - params[LENGTH, j] - floats[POS, i]
            v_lead[i] = floats[SPEED, j]
            continue
        nl = next_lane(lane, ints[NEXT, i], lane_link, lane_index, link_lanes, link_lane0, offset)
        if nl >= 0 and end[nl] > start[nl]:
            j = order[start[nl]]
            lead[i] = j
            rest = net.link_length[lane_link[lane]] - floats[POS, i]
            gap[i] = rest + floats[POS, j] - params[LENGTH, j]
            v_lead[i] = floats[SPEED, j]


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


# The stop line and the IDM acceleration are computed from scalars, so that the NumPy-free
# parts of a kernel read as formulas.
@njit(cache=True, inline="always")
def stop_gap(after, rest, zone_or_light, reserved) -> float:
    """Gap to the stop line ``rest`` metres ahead if the vehicle must stop there (``after``,
    the lane it continues on, is DEAD_END, or the junction has a conflict zone or a light
    that is not green, ``zone_or_light``, and it holds no reservation), else FREE_GAP."""
    if after == DEAD_END:
        return rest
    if after == EXIT:
        return FREE_GAP
    return rest if zone_or_light and not reserved else FREE_GAP


@njit(cache=True, inline="always")
def background_acc(v, v0, gap, v_lead, stop, params, i) -> float:
    """IDM acceleration of background vehicle ``i`` (speed ``v``, desired ``v0``) against a
    leader ``gap`` ahead at ``v_lead`` and a stop line ``stop`` ahead (FREE_GAP: none)."""
    acc = idm(v, v0, gap, v_lead, params, i)
    if stop < FREE_GAP:
        acc = min(acc, idm(v, v0, stop, 0.0, params, i))
    return max(acc, -B_MAX)


@njit(cache=True, inline="always")
def network_background_acc(i, lane, gap, v_lead, ints, floats, params, light, net) -> float:
    """:func:`background_acc` of vehicle ``i`` on ``lane``, its stop line found in ``net``
    (for callers that run a few times a substep)."""
    link = net.lane_link[lane]
    node = net.link_nodes[link, 1]
    after = lane_after(lane, ints[NEXT, i], net)
    zone_or_light = net.node_box[node] or light[link] != GREEN
    stop = stop_gap(after, net.link_length[link] - floats[POS, i], zone_or_light,
                    ints[RES, i] == node)  # fmt: skip
    v0 = params[V0, i] * net.link_speed[link]
    return background_acc(floats[SPEED, i], v0, gap, v_lead, stop, params, i)


@njit(cache=True, _nrt=False)
def accelerations(ints, floats, params, gap, v_lead, light, net, active) -> None:
    """Sets ``floats[ACC]`` of the vehicles ``active`` (their slots): IDM against the leader
    and the stop line for background drivers, a proportional controller towards the target
    speed for controlled vehicles."""
    link_speed, lane_link, lane_index = net.link_speed, net.lane_link, net.lane_index
    link_lanes, link_lane0, conn_offset = net.link_lanes, net.link_lane0, net.conn_offset
    link_length, link_nodes, node_box = net.link_length, net.link_nodes, net.node_box
    for i in active:
        lane = ints[LANE, i]
        link = lane_link[lane]
        limit = link_speed[link]
        if ints[CTRL, i] >= 0:
            a = K_SPEED * (floats[TARGET, i] * limit - floats[SPEED, i])
            floats[ACC, i] = min(max(a, -B_MAX), A_CONTROLLED)
            continue
        after = next_lane(lane, ints[NEXT, i], lane_link, lane_index, link_lanes, link_lane0,
                          conn_offset)  # fmt: skip
        node = link_nodes[link, 1]
        stop = stop_gap(after, link_length[link] - floats[POS, i],
                        node_box[node] or light[link] != GREEN, ints[RES, i] == node)  # fmt: skip
        floats[ACC, i] = background_acc(floats[SPEED, i], params[V0, i] * limit, gap[i],
                                        v_lead[i], stop, params, i)  # fmt: skip


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
    """Per movement, how many vehicles hold it: a reservation for the junction ahead (the
    movement from their link to their next), or inside the conflict zone on it."""
    holders = np.empty(net.move_link.shape[0], dtype=np.int64)
    _count_holders(ints, net, holders, np.flatnonzero(ints[STATUS] == ACTIVE))
    return holders


@njit(cache=True, _nrt=False)
def _count_holders(ints, net, holders, active) -> None:
    """:func:`zone_holders` into ``holders``, over the vehicles ``active``."""
    holders[:] = 0
    for i in active:
        if ints[RES, i] >= 0:
            holders[net.conn_move[net.lane_link[ints[LANE, i]], ints[NEXT, i]]] += 1
        if ints[BOX, i] >= 0:
            holders[ints[MOVE, i]] += 1


@njit(cache=True, inline="always")
def is_foe(m, f, net) -> bool:
    """Movement ``f`` is a foe of movement ``m`` (binary search in ``m``'s sorted foes)."""
    lo, hi = net.move_foe_ptr[m], net.move_foe_ptr[m + 1]
    while lo < hi:
        mid = (lo + hi) // 2
        if net.move_foe[mid] < f:
            lo = mid + 1
        else:
            hi = mid
    return lo < net.move_foe_ptr[m + 1] and net.move_foe[lo] == f


# The reservation helpers below take the network's and the lane order's arrays one by one
# (they were written when each array an inlined helper received cost a reference count
# update; see the module docstring).
@njit(cache=True, inline="always")
def yields_to(m, f, move_link, move_out, link_priority, conn_turn) -> bool:
    """Movement ``m`` gives way to its foe ``f``: ``f``'s in-link has the higher priority,
    or equal priority and ``m`` turns left while ``f`` does not."""
    a, b = move_link[m], move_link[f]
    if link_priority[b] != link_priority[a]:
        return link_priority[b] > link_priority[a]
    return conn_turn[a, move_out[m]] == LEFT and conn_turn[b, move_out[f]] != LEFT


@njit(cache=True, inline="always")
def _look_ahead(i, floats, params) -> float:
    """How far ahead of a stop line vehicle ``i`` asks for a reservation: IDM's desired gap
    to a standing obstacle, ``s0 + v T + v^2 / (2 sqrt(a b))``, plus ``STOP_MARGIN``."""
    v = floats[SPEED, i]
    brake = v * v / (2.0 * np.sqrt(params[ACCEL, i] * params[DECEL, i]))
    return params[MIN_GAP, i] + v * params[HEADWAY, i] + brake + STOP_MARGIN


@njit(cache=True, _nrt=False)
def _reservation_requests(ints, floats, params, lanes, light, net, active, requests, key) -> int:
    """Background vehicles that need a reservation for the junction ahead (a conflict zone
    or a yellow light; none is granted on red), are within their look-ahead of its stop line
    and first on their lane among those without one; in the order they are served:
    higher-priority approaches first, then nearest the stop line (a stable insertion sort by
    that key, in ``requests`` and ``key``), among the vehicles ``active`` (slot order).
    Returns how many."""
    n = 0
    for i in active:
        if ints[CTRL, i] >= 0 or ints[NEXT, i] < 0:
            continue
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        node = net.link_nodes[link, 1]
        if ints[RES, i] == node or not (net.node_box[node] or light[link] != GREEN):
            continue
        if light[link] == RED:
            continue  # no reservation on red (:func:`_stops_for_light`): not asked at all
        nl = next_lane(lane, ints[NEXT, i], net.lane_link, net.lane_index, net.link_lanes,
                       net.link_lane0, net.conn_offset)  # fmt: skip
        if nl == DEAD_END:
            continue  # must change lanes first
        rest = net.link_length[link] - floats[POS, i]
        if rest > _look_ahead(i, floats, params):
            continue
        r = lanes.rank[i] + 1
        if r < lanes.end[lane] and ints[RES, lanes.order[r]] != node:
            continue  # a vehicle ahead on the lane still waits
        k, q = -net.link_priority[link] * 1e6 + rest, n
        while q > 0 and key[q - 1] > k:
            requests[q], key[q] = requests[q - 1], key[q - 1]
            q -= 1
        requests[q], key[q] = i, k
        n += 1
    return n


@njit(cache=True, inline="always")
def _stops_for_light(i, link, floats, params, light, link_length) -> bool:
    """Red, or yellow while vehicle ``i`` can still stop comfortably before the line."""
    if light[link] == RED:
        return True
    if light[link] != YELLOW:
        return False
    v = floats[SPEED, i]
    rest = link_length[link] - floats[POS, i]
    return v * v / (2.0 * params[DECEL, i]) < rest - params[MIN_GAP, i]


@njit(cache=True, inline="always")
def _approach_eta(
    f, node, ints, floats, order, start, end, move_link, move_out, link_lane0, link_lanes,
    link_length,
) -> float:  # fmt: skip
    """Seconds until the first vehicle of some lane of movement ``f``'s in-link without a
    reservation for ``node`` reaches the stop line at its current speed, if it takes
    movement ``f`` (inf when there is none)."""
    b = move_link[f]
    eta = np.inf
    for bl in range(link_lane0[b], link_lane0[b] + link_lanes[b]):
        r = end[bl] - 1
        while r >= start[bl] and ints[RES, order[r]] == node:
            r -= 1
        if r >= start[bl] and ints[NEXT, order[r]] == move_out[f]:
            j = order[r]
            eta = min(eta, (link_length[b] - floats[POS, j]) / max(floats[SPEED, j], 0.1))
    return eta


@njit(cache=True, _nrt=False)
def reserve_zones(ints, floats, params, lanes, light, net, active, work) -> None:
    """Step 2, junction control: each requesting vehicle (:func:`_reservation_requests`), in
    turn, reserves the junction ahead unless its light stops it (:func:`_stops_for_light`),
    the zone is blocked (some foe of its movement is held, or a vehicle of a foe that it
    yields to, :func:`yields_to`, and whose light is not red arrives within its critical gap)
    or the lane after the junction has no room for it behind its last vehicle; a
    reservation granted here blocks the later requests. ``active``: the active vehicles' slots
    in slot order; ``work``: a :class:`Scratch`."""
    requests, key = work.requests, work.key
    n = _reservation_requests(ints, floats, params, lanes, light, net, active, requests, key)
    if n == 0:
        return
    holders = work.holders
    _count_holders(ints, net, holders, active)
    order, start, end = lanes.order, lanes.start, lanes.end
    move_link, move_out, foe_ptr, foes = net.move_link, net.move_out, net.move_foe_ptr, net.move_foe
    priority, conn_turn, conn_move = net.link_priority, net.conn_turn, net.conn_move
    lane_link, lane_index, link_lanes = net.lane_link, net.lane_index, net.link_lanes
    link_lane0, conn_offset, link_length = net.link_lane0, net.conn_offset, net.link_length
    for q in range(n):
        i = work.requests[q]
        lane = ints[LANE, i]
        link = lane_link[lane]
        node = net.link_nodes[link, 1]
        if _stops_for_light(i, link, floats, params, light, link_length):
            continue
        m = conn_move[link, ints[NEXT, i]]
        blocked = False
        for k in range(foe_ptr[m], foe_ptr[m + 1]):
            f = foes[k]
            blocked = holders[f] > 0
            if not blocked and light[move_link[f]] != RED:
                if yields_to(m, f, move_link, move_out, priority, conn_turn):
                    eta = _approach_eta(f, node, ints, floats, order, start, end, move_link,
                                        move_out, link_lane0, link_lanes, link_length)  # fmt: skip
                    blocked = eta < params[CRITICAL_GAP, i]
            if blocked:
                break
        if blocked:
            continue
        nl = next_lane(lane, ints[NEXT, i], lane_link, lane_index, link_lanes, link_lane0,
                       conn_offset)  # fmt: skip
        if nl >= 0 and end[nl] > start[nl]:  # room behind the last vehicle after the junction
            j = order[start[nl]]
            room = floats[POS, j] - params[LENGTH, j]
            if room < net.box_length + params[LENGTH, i] + params[MIN_GAP, i]:
                continue
        ints[RES, i] = node
        holders[m] += 1


@njit(cache=True, inline="always")
def _insertion_point(pos, lane, floats, lanes) -> int:
    """The place in ``lanes.order`` where a vehicle at ``pos`` would stand on ``lane``: after
    every vehicle at or behind it (binary search in the lane's sorted range)."""
    lo, hi = lanes.start[lane], lanes.end[lane]
    while lo < hi:
        mid = (lo + hi) // 2
        if floats[POS, lanes.order[mid]] <= pos:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, inline="always")
def _gap_ahead(i, lane, target, at, ints, floats, params, lanes, net):
    """Gap and leader speed vehicle ``i`` on ``lane`` would have on ``target``, entering at
    place ``at``: to the vehicle there, else to the first on the lane ``target`` continues on
    (FREE_GAP, 0 when there is none)."""
    pos = floats[POS, i]
    if at < lanes.end[target]:
        j = lanes.order[at]
        return floats[POS, j] - params[LENGTH, j] - pos, floats[SPEED, j]
    nl = lane_after(target, ints[NEXT, i], net)
    if nl >= 0 and lanes.end[nl] > lanes.start[nl]:
        j = lanes.order[lanes.start[nl]]
        rest = net.link_length[net.lane_link[lane]] - pos
        return rest + floats[POS, j] - params[LENGTH, j], floats[SPEED, j]
    return FREE_GAP, 0.0


@njit(cache=True, inline="always")
def _gap_behind(i, target, at, floats, params, lanes, net):
    """The follower (-1 none) vehicle ``i`` would have on ``target``, entering at place ``at``,
    and its gap: the vehicle before ``at``, else the nearest last vehicle of the lanes that
    continue onto ``target``."""
    pos, length = floats[POS, i], params[LENGTH, i]
    if at - 1 >= lanes.start[target]:
        follower = lanes.order[at - 1]
        return follower, pos - length - floats[POS, follower]
    follower, gap = -1, FREE_GAP
    for k in range(net.lane_pred_ptr[target], net.lane_pred_ptr[target + 1]):
        p = net.lane_pred[k]
        if lanes.end[p] == lanes.start[p]:
            continue
        j = lanes.order[lanes.end[p] - 1]
        g = net.link_length[net.lane_link[p]] - floats[POS, j] + pos - length
        if g < gap:
            gap, follower = g, j
    return follower, gap


@njit(cache=True, inline="always")
def _safe_behind(gap, v, v_lead) -> bool:
    """A driver at ``v`` may move in ``gap`` metres behind a leader at ``v_lead``: at least
    1 m, and room to match the leader's stop when both brake at ``B_SAFE``."""
    return gap >= max(1.0, (v * v - v_lead * v_lead) / (2.0 * B_SAFE))


@njit(cache=True, inline="always")
def _mobil_accelerations(i, lane, target, ints, floats, params, lanes, light, net):
    """MOBIL on one candidate lane: vehicle ``i``'s acceleration there, its new follower
    (-1 none) and that follower's acceleration behind it; the first is -inf when the change
    is unsafe: the vehicles would overlap, the new follower would brake beyond ``B_SAFE``
    (MOBIL's criterion), or vehicle ``i`` could not match its new leader's stop braking at
    ``B_SAFE`` (the same criterion from the front side of the gap, which MOBIL leaves to
    IDM: IDM brakes at most ``B_MAX``)."""
    at = _insertion_point(floats[POS, i], target, floats, lanes)
    gap_front, v_front = _gap_ahead(i, lane, target, at, ints, floats, params, lanes, net)
    v = floats[SPEED, i]
    if not _safe_behind(gap_front, v, v_front):
        return -np.inf, -1, 0.0
    follower, gap_back = _gap_behind(i, target, at, floats, params, lanes, net)
    if gap_back < 1.0:
        return -np.inf, -1, 0.0
    a_f = 0.0
    if follower >= 0:
        f_lane = ints[LANE, follower]
        v0f = params[V0, follower] * net.link_speed[net.lane_link[f_lane]]
        a_f = idm(floats[SPEED, follower], v0f, gap_back, v, params, follower)
        if a_f < -B_SAFE:
            return -np.inf, -1, 0.0
    a_new = network_background_acc(i, target, gap_front, v_front, ints, floats, params, light, net)
    return a_new, follower, a_f


@njit(cache=True, inline="always")
def _old_follower_gain(i, lane, ints, floats, params, lanes, ahead, light, net) -> float:
    """The old follower's acceleration gain when ``i`` leaves ``lane``."""
    r = lanes.rank[i] - 1
    if r < lanes.start[lane]:
        return 0.0
    o = lanes.order[r]
    if ints[CTRL, o] >= 0:
        return 0.0
    new_gap = ahead.gap[i] + floats[POS, i] - floats[POS, o] if ahead.lead[i] >= 0 else FREE_GAP
    a_new = network_background_acc(
        o, lane, new_gap, ahead.v_lead[i], ints, floats, params, light, net
    )
    return a_new - floats[ACC, o]


@njit(cache=True)
def _route_choice(uid, hops, n) -> int:
    """A deterministic pseudo-random choice in [0, n) from a vehicle's id and hop count."""
    x = (uid * 1103515245 + hops * 12345 + 2654435761) % 2147483647
    x = (x * 48271) % 2147483647
    x = (x * 48271) % 2147483647
    return x % n


@njit(cache=True, inline="always")
def choose_next(i, link, ints, net, route_links) -> int:
    """Next link after ``link``: a vehicle with a route (``route_links[ints[ROUTE, i]:
    ints[ROUTE_END, i]]``, from a route file) takes its next link, or leaves after the last;
    controlled vehicles keep straight by default (their route action may change it), other
    background drivers pick uniformly among the allowed turns."""
    if ints[ROUTE, i] >= 0:
        k = ints[ROUTE, i] + ints[HOPS, i] + 1
        return route_links[k] if k < ints[ROUTE_END, i] else -1
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
def lane_change_candidates(ints, floats, params, net, direction):
    """The vehicles that may consider changing lanes towards ``direction`` (+1 left, -1
    right), in slot order, and the lane each would move to: background drivers past their
    cooldown, without a reservation, outside a conflict zone, fully on their link, with a lane
    on that side, and not within 10 m of a conflict zone ahead unless their lane ends there."""
    m = ints.shape[1]
    slots, targets = np.empty(m, dtype=np.int64), np.empty(m, dtype=np.int64)
    active = np.flatnonzero(ints[STATUS] == ACTIVE)
    n = _candidates_into(ints, floats, params, net, direction, active, slots, targets)
    return slots[:n], targets[:n]


@njit(cache=True, _nrt=False)
def _candidates_into(ints, floats, params, net, direction, active, slots, targets) -> int:
    """:func:`lane_change_candidates` among the vehicles ``active`` (slot order) into ``slots``
    and ``targets``; returns how many."""
    lane_link, lane_index, link_lanes = net.lane_link, net.lane_index, net.link_lanes
    link_lane0, conn_offset, link_length = net.link_lane0, net.conn_offset, net.link_length
    node_box, link_nodes = net.node_box, net.link_nodes
    n = 0
    for i in active:
        if ints[CTRL, i] >= 0 or floats[LC_TIMER, i] > 0.0:
            continue
        if ints[RES, i] >= 0 or ints[BOX, i] >= 0 or floats[POS, i] < params[LENGTH, i]:
            continue
        lane = ints[LANE, i]
        link = lane_link[lane]
        idx = lane_index[lane] + direction
        if idx < 0 or idx >= link_lanes[link]:
            continue
        if link_length[link] - floats[POS, i] < 10.0 and node_box[link_nodes[link, 1]]:
            after = next_lane(lane, ints[NEXT, i], lane_link, lane_index, link_lanes, link_lane0,
                              conn_offset)  # fmt: skip
            if after != DEAD_END:
                continue
        slots[n] = i
        targets[n] = link_lane0[link] + idx
        n += 1
    return n


def lane_change_candidates_reference(ints, floats, params, net, direction):
    """NumPy reference of :func:`lane_change_candidates`."""
    lane = np.maximum(ints[LANE], 0)
    link = net.lane_link[lane]
    idx = net.lane_index[lane] + direction
    nxt = ints[NEXT]
    index = net.lane_index[lane] + net.conn_offset[link, np.maximum(nxt, 0)]
    lane_ends = (nxt >= 0) & ((index < 0) | (index >= net.link_lanes[np.maximum(nxt, 0)]))
    near_zone = (net.link_length[link] - floats[POS] < 10.0) & net.node_box[net.link_nodes[link, 1]]
    ok = (ints[STATUS] == ACTIVE) & (ints[CTRL] < 0) & (floats[LC_TIMER] <= 0.0)
    ok &= (ints[RES] < 0) & (ints[BOX] < 0) & (floats[POS] >= params[LENGTH])
    ok &= (idx >= 0) & (idx < net.link_lanes[link]) & (~near_zone | lane_ends)
    slots = np.flatnonzero(ok)
    return slots, net.link_lane0[link[slots]] + idx[slots]


@njit(cache=True)
def change_lanes(ints, floats, params, lanes, ahead, light, net, direction) -> None:
    """:func:`change_lanes_with` on work arrays of its own."""
    work = scratch(ints.shape[1], net)
    active = np.flatnonzero(ints[STATUS] == ACTIVE)
    change_lanes_with(ints, floats, params, lanes, ahead, light, net, direction, active, work)


@njit(cache=True, _nrt=False)
def change_lanes_with(
    ints, floats, params, lanes, ahead, light, net, direction, active, work
) -> None:
    """Step 4, lane changes towards ``direction`` (+1 left, -1 right), decided on the state
    before any change and applied together: a vehicle whose lane does not continue onto its
    next link moves towards one that does whenever it is safe (strategic changes, as SUMO's
    lane-change model makes them), never away from one; otherwise MOBIL decides. A driver
    for it at once, and its new follower brakes
    for it if needed (neither keeps the acceleration of the lane before for the substep).
    ``active``: the active vehicles' slots in slot order; ``work``: a :class:`Scratch`."""
    candidates, targets = work.slots, work.targets
    count = _candidates_into(ints, floats, params, net, direction, active, candidates, targets)
    if count == 0:
        return
    change, behind, acc, acc_behind = work.change, work.behind, work.acc, work.acc_behind
    change[:] = -1
    behind[:] = -1
    acc[:] = 0.0
    acc_behind[:] = 0.0
    lane_link, lane_index = net.lane_link, net.lane_index
    link_lanes, conn_offset = net.link_lanes, net.conn_offset
    for k in range(count):
        i, target = candidates[k], targets[k]
        lane = ints[LANE, i]
        nxt = ints[NEXT, i]
        here = lane_miss(lane, nxt, lane_link, lane_index, link_lanes, conn_offset)
        there = lane_miss(target, nxt, lane_link, lane_index, link_lanes, conn_offset)
        if there > here:
            continue  # away from the lanes that continue on its route
        a_new, follower, a_f = _mobil_accelerations(
            i, lane, target, ints, floats, params, lanes, light, net
        )
        if a_new == -np.inf:
            continue
        if there < here:  # strategic: towards its route's lanes whenever it is safe
            change[i], acc[i], behind[i], acc_behind[i] = target, a_new, follower, a_f
            continue
        old_follower_gain = _old_follower_gain(
            i, lane, ints, floats, params, lanes, ahead, light, net
        )
        new_follower_gain = a_f - floats[ACC, follower] if follower >= 0 else 0.0
        gain = mobil_gain(a_new - floats[ACC, i], new_follower_gain, old_follower_gain, params, i)
        if gain > 0.0:
            change[i], acc[i], behind[i], acc_behind[i] = target, a_new, follower, a_f
    keep, candidates = work.keep, candidates[:count]
    _one_gap_changes(change, acc, keep, candidates, ints, floats, params, lanes, net.link_speed,
                     lane_link)  # fmt: skip
    for i in candidates:
        if change[i] >= 0 and keep[i]:
            ints[LANE, i] = change[i]
            floats[LC_TIMER, i] = LC_COOLDOWN
            floats[ACC, i] = acc[i]
            if behind[i] >= 0:
                floats[ACC, behind[i]] = min(floats[ACC, behind[i]], acc_behind[i])


@njit(cache=True, _nrt=False)
def _one_gap_changes(
    change, acc, keep, candidates, ints, floats, params, lanes, link_speed, lane_link
):  # fmt: skip
    """Which of the decided changes (``change``, the target lanes, -1 none; made by
    ``candidates`` alone) go ahead (into ``keep``): two
    drivers of one lane that move into one gap of the target lane (no vehicle of it between
    them) follow each other there, so the rear one changes only if it is safe behind the
    front one (:func:`_safe_behind`), and then with its IDM acceleration behind it when that
    is lower than ``acc`` (updated in place)."""
    keep[:] = True
    for i in candidates:
        target = change[i]
        if target < 0:
            continue
        lane = ints[LANE, i]
        r = lanes.rank[i] + 1
        while r < lanes.end[lane] and change[lanes.order[r]] < 0:
            r += 1
        if r == lanes.end[lane]:
            continue
        j = lanes.order[r]  # the nearest driver ahead that changes too
        pos, front = floats[POS, i], floats[POS, j]
        if _insertion_point(pos, target, floats, lanes) != _insertion_point(
            front, target, floats, lanes
        ):
            continue  # a vehicle of the target lane between them
        gap, v = front - params[LENGTH, j] - pos, floats[SPEED, i]
        if not _safe_behind(gap, v, floats[SPEED, j]):
            keep[i] = False
            continue
        v0 = params[V0, i] * link_speed[lane_link[lane]]
        acc[i] = min(acc[i], max(idm(v, v0, gap, floats[SPEED, j], params, i), -B_MAX))


@njit(cache=True, inline="always")
def _leave_link(i, lane, link, ints, floats, factor, net, t_end, route_links) -> None:
    """Vehicle ``i`` has passed the end of ``link``: it arrives (its route leaves the
    network), crashes (its lane ends) or moves onto the next link's lane, entering the
    junction's conflict zone when it has one or holds its reservation, capped at the new
    link's speed limit (times its speed ``factor`` when that is above 1, as SUMO's drivers
    exceed the limit) and with its next link chosen."""
    floats[FREE_TIME, i] += net.link_length[link] / net.link_speed[link]
    nl = lane_after(lane, ints[NEXT, i], net)
    if nl == EXIT or nl == DEAD_END:
        ints[STATUS, i] = ARRIVED if nl == EXIT else CRASHED  # CRASHED: drove off a lane end
        floats[T_EXIT, i] = t_end
        return
    node = net.link_nodes[link, 1]
    floats[POS, i] -= net.link_length[link]
    ints[LANE, i] = nl
    nxt = net.lane_link[nl]
    if ints[RES, i] == node or net.node_box[node]:
        ints[BOX, i] = node
        ints[MOVE, i] = net.conn_move[link, nxt]
    ints[RES, i] = -1
    floats[SPEED, i] = min(floats[SPEED, i], max(factor, 1.0) * net.link_speed[nxt])
    ints[HOPS, i] += 1
    ints[NEXT, i] = choose_next(i, nxt, ints, net, route_links)


@njit(cache=True, _nrt=False)
def advance(ints, floats, params, net, t, dt, totals, link_delay, route_links, active) -> None:
    """Step 5 for the vehicles ``active`` (in slot order): ballistic integration, then link
    transfers and arrivals (:func:`_leave_link`) and the release of a conflict zone once the
    vehicle's rear has left it. Adds each vehicle's time and distance to ``totals`` and its
    delay (time lost against the speed limit) to ``link_delay`` of its link."""
    for i in active:
        floats[LC_TIMER, i] -= dt
        v, ds = ballistic(floats[SPEED, i], floats[ACC, i], dt)
        floats[SPEED, i] = v
        floats[POS, i] += ds
        floats[DIST, i] += ds
        lane = ints[LANE, i]
        link = net.lane_link[lane]
        totals[VEHICLE_SECONDS] += dt
        totals[VEHICLE_METRES] += ds
        link_delay[link] += dt * (1.0 - v / net.link_speed[link])
        if floats[POS, i] >= net.link_length[link]:
            _leave_link(i, lane, link, ints, floats, params[V0, i], net, t + dt, route_links)
            if ints[STATUS, i] != ACTIVE:
                continue
        if ints[BOX, i] >= 0 and floats[POS, i] - params[LENGTH, i] >= net.box_length:
            ints[BOX, i] = -1


@njit(cache=True)
def collisions(ints, ahead, net):
    """Step 6's test, per slot: vehicles that overlap their leader (``ahead``) on one lane or
    across a link end where the junction has no conflict zone, and vehicles inside one
    conflict zone on foe movements."""
    m = ints.shape[1]
    crashed = np.empty(m, dtype=np.bool_)
    active = np.flatnonzero(ints[STATUS] == ACTIVE)
    _collisions_into(ints, ahead, net, active, crashed, np.empty(m, dtype=np.int64))
    return crashed


@njit(cache=True, _nrt=False)
def _collisions_into(ints, ahead, net, active, crashed, in_box) -> None:
    """:func:`collisions` of the vehicles ``active`` (slot order) into ``crashed`` (``in_box``:
    work space of one entry a slot). One pass over them, then the few inside zones sorted by
    zone (insertion sort, slot order kept within a zone) and paired."""
    crashed[:] = False
    lane_link, link_nodes, node_box = net.lane_link, net.link_nodes, net.node_box
    k = 0
    for i in active:
        if ints[BOX, i] >= 0:
            box, q = ints[BOX, i], k
            while q > 0 and ints[BOX, in_box[q - 1]] > box:
                in_box[q] = in_box[q - 1]
                q -= 1
            in_box[q] = i
            k += 1
        j = ahead.lead[i]
        if j < 0 or ahead.gap[i] >= 0.0:
            continue
        if ints[LANE, j] == ints[LANE, i] or not node_box[link_nodes[lane_link[ints[LANE, i]], 1]]:
            crashed[i] = True
            crashed[j] = True
    for p in range(k):
        i = in_box[p]
        for q in range(p + 1, k):
            j = in_box[q]
            if ints[BOX, j] != ints[BOX, i]:
                break
            if is_foe(ints[MOVE, i], ints[MOVE, j], net):
                crashed[i] = True
                crashed[j] = True


def collisions_reference(ints, ahead, net) -> np.ndarray:
    """NumPy reference of :func:`collisions`: the same two tests over all pairs."""
    m = ints.shape[1]
    crashed = np.zeros(m, dtype=bool)
    lead, gap = ahead.lead, ahead.gap
    i = np.flatnonzero((lead >= 0) & (gap < 0.0))
    j = lead[i]
    zone = net.node_box[net.link_nodes[net.lane_link[ints[LANE, i]], 1]]
    hit = (ints[LANE, j] == ints[LANE, i]) | ~zone
    crashed[i[hit]] = crashed[j[hit]] = True
    inside = np.flatnonzero((ints[STATUS] == ACTIVE) & (ints[BOX] >= 0))
    for a in inside:
        foes = net.move_foe[net.move_foe_ptr[ints[MOVE, a]] : net.move_foe_ptr[ints[MOVE, a] + 1]]
        for b in inside[inside > a]:
            if ints[BOX, b] == ints[BOX, a] and ints[MOVE, b] in foes:
                crashed[a] = crashed[b] = True
    return crashed


# The glue of a substep (_sort_and_lead, crash, substep) is inlined into its callers: a call
# passes the KernelNetwork's arrays field by field, a few hundred words (measured: the cross
# 7.2 -> 6.9 us a step; inlining the kernels they call too gains little more and makes the
# first compilation 2.5x longer).
@njit(cache=True, _nrt=False, inline="always")
def _sort_and_lead(ints, floats, params, net, work) -> int:
    """Step 1 into ``work``: lanes sorted and every vehicle's leader; returns how many
    vehicles are active (``work.active[:n]``)."""
    n = _sort_into(ints, floats, work.order, work.rank, work.start, work.end, work.active)
    _leaders_into(ints, floats, params, work.order[:n], work.rank, work.start, work.end, net,
                  Leaders(work.lead, work.gap, work.v_lead))  # fmt: skip
    return n


@njit(cache=True, _nrt=False, inline="always")
def crash(ints, floats, net, t_end, n, work) -> bool:
    """Step 6 on sorted lanes (the leaders in ``work``, ``n`` vehicles active): vehicles that
    overlap on a lane or meet on foe movements inside a conflict zone crash at ``t_end``;
    whether any did."""
    crashed, active = work.crashed, work.active[:n]
    ahead = Leaders(work.lead, work.gap, work.v_lead)
    _collisions_into(ints, ahead, net, active, crashed, work.in_box)
    any_crash = False
    for i in active:
        if crashed[i]:
            ints[STATUS, i] = CRASHED
            floats[T_EXIT, i] = t_end
            any_crash = True
    return any_crash


@njit(cache=True, _nrt=False, inline="always")
def substep(
    ints, floats, params, light, net, t, dt, parity, totals, link_delay, route_links, t_check,
    work,
):  # fmt: skip
    """Advances the state by one substep of ``dt`` seconds (in place), in the steps of the
    module docstring; lane changes go left when ``parity`` is 0, right when it is 1. Step 6
    of the previous substep runs first, on this substep's sort, when ``t_check`` (its end
    time) is >= 0; :func:`simulate` runs the last one. (One sort a substep instead of two; the
    lanes are sorted again only after a crash.) ``work``: a :class:`Scratch`."""
    n = _sort_and_lead(ints, floats, params, net, work)
    if t_check >= 0.0 and crash(ints, floats, net, t_check, n, work):
        n = _sort_and_lead(ints, floats, params, net, work)
    lanes = LaneOrder(work.order[:n], work.rank, work.start, work.end)
    ahead = Leaders(work.lead, work.gap, work.v_lead)
    active = work.active[:n]
    reserve_zones(ints, floats, params, lanes, light, net, active, work)
    accelerations(ints, floats, params, ahead.gap, ahead.v_lead, light, net, active)
    change_lanes_with(ints, floats, params, lanes, ahead, light, net, 1 if parity == 0 else -1,
                      active, work)  # fmt: skip
    advance(ints, floats, params, net, t, dt, totals, link_delay, route_links, active)


@njit(cache=True)
def scratch(capacity, net) -> Scratch:
    """Work arrays of a step's kernels for ``capacity`` slots on network ``net`` (contents
    undefined: each kernel sets what it reads)."""
    m, num_lanes, num_moves = capacity, net.lane_link.shape[0], net.move_link.shape[0]
    return Scratch(
        order=np.empty(m, dtype=np.int64),
        rank=np.empty(m, dtype=np.int64),
        start=np.empty(num_lanes, dtype=np.int64),
        end=np.empty(num_lanes, dtype=np.int64),
        lead=np.empty(m, dtype=np.int64),
        gap=np.empty(m),
        v_lead=np.empty(m),
        crashed=np.empty(m, dtype=np.bool_),
        in_box=np.empty(m, dtype=np.int64),
        requests=np.empty(m, dtype=np.int64),
        key=np.empty(m),
        holders=np.empty(num_moves, dtype=np.int64),
        slots=np.empty(m, dtype=np.int64),
        targets=np.empty(m, dtype=np.int64),
        change=np.empty(m, dtype=np.int64),
        behind=np.empty(m, dtype=np.int64),
        acc=np.empty(m),
        acc_behind=np.empty(m),
        keep=np.empty(m, dtype=np.bool_),
        active=np.empty(m, dtype=np.int64),
        free=np.empty(num_lanes),
        room=np.empty(num_lanes),
        blocked=np.empty(net.link_length.shape[0], dtype=np.bool_),
    )


@njit(cache=True)
def simulate(
    ints, floats, params, light, net, t, dt, substeps, totals, link_delay, route_links
) -> None:
    """``substeps`` substeps from time ``t`` (in place); vehicles that arrive or crash stop
    there. ``net`` is ``Network.kernel_arrays()``, ``route_links`` the routes' links
    (``routes.Demand.route_links``; empty without a route file). Lane changes alternate
    with the substeps counted from time 0, so they alternate across steps of one substep too."""
    simulate_with(ints, floats, params, light, net, t, dt, substeps, totals, link_delay,
                  route_links, scratch(ints.shape[1], net))  # fmt: skip


@njit(cache=True, _nrt=False)
def simulate_with(
    ints, floats, params, light, net, t, dt, substeps, totals, link_delay, route_links, work
) -> None:
    """:func:`simulate` in the work arrays ``work`` (a :class:`Scratch`)."""
    first = round(t / dt)  # substeps before this step
    for k in range(substeps):
        t_check = (t + (k - 1) * dt) + dt if k > 0 else -1.0
        substep(
            ints, floats, params, light, net, t + k * dt, dt, (first + k) % 2, totals,
            link_delay, route_links, t_check, work,
        )  # fmt: skip
    if substeps > 0:
        n = _sort_and_lead(ints, floats, params, net, work)
        crash(ints, floats, net, (t + (substeps - 1) * dt) + dt, n, work)
