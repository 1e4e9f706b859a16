"""Vehicles entering and leaving the network, and the env's whole step, as Numba kernels.

- :func:`add_vehicles` starts new vehicles in free slots (state, driver parameters, the next
  link of their route or a random turn);
- :func:`insert_demand` lets the route file's vehicles that are due enter in order of
  departure, each on the lane of its first link with the most room among those that continue
  on its route, once that lane has ``ENTRY_ROOM`` metres free and no other vehicle entered it
  this step; a vehicle that finds no room waits, and so do the later ones of its link (SUMO's
  insertion queue);
- :func:`retire` books vehicles that arrived or crashed into the counts and totals and frees
  their slots;
- :func:`step_world` is one env step with no decision left to Python: signal requests, lights,
  ``substeps`` kernel substeps (:func:`core.simulate`), the signals' clock, retirement of the
  background vehicles and insertion of the demand. The env then only books its agents;
- :func:`run_world` is many such steps in one call, for an env with no agent
  (``TrafficEnv.advance``).

The kernels of a step run without Numba's reference counts (``_nrt=False``, see ``core.py``)
in work arrays (``core.Scratch``) that :func:`run_world` allocates once a call; the ``*_with``
kernels take them, their namesakes allocate them (one step a call).

``insert_demand_reference`` and ``retire_reference`` are the NumPy references of the two
kernels that the tests compare against.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numpy as np
from numba import njit

from metagame.envs.traffic import core
from metagame.envs.traffic.core import (
    ACTIVE,
    AGENT,
    ARRIVED,
    CRASHED,
    CTRL,
    FREE,
    FREE_TIME,
    HOPS,
    KIND,
    LANE,
    NEXT,
    POS,
    ROUTE,
    ROUTE_END,
    SPEED,
    STATUS,
    T_ENTER,
    T_EXIT,
    TARGET,
    TRAVEL_DELAY,
    TRAVEL_TIME,
    UID,
)
from metagame.envs.traffic.drivers import DECEL, LENGTH, MIN_GAP, V0
from metagame.envs.traffic.signals import advance_phases, request_phases, set_lights

ENTRY_ROOM = 20.0  # m free at the start of a lane for a vehicle to enter
ENTRY_POS = 5.0  # m past the start of its lane where an entering vehicle is placed
START_TARGET = 0.75  # a new controlled vehicle's target speed, fraction of the limit


class Count(IntEnum):
    """Rows of the env's ``counts`` (int64): vehicles entered, arrived and crashed so far, the
    next vehicle id, and the demand's queue (vehicles due so far, how many of them wait)."""

    ENTERED = 0
    ARRIVED = 1
    CRASHED = 2
    NEXT_UID = 3
    DUE = 4
    WAITING = 5


class DemandQueue(NamedTuple):
    """A route file's vehicles (``routes.Demand``) as the insertion kernel reads them, with
    their drivers drawn in advance (``kinds`` and ``drivers[:, k]``, columns of
    ``drivers.PARAM_NAMES``), each one's entry time ``departed`` (NaN: not yet) and the
    waiting ones ``waiting[:counts[Count.WAITING]]`` in order of departure."""

    depart: np.ndarray
    route_ptr: np.ndarray
    route_links: np.ndarray
    kinds: np.ndarray
    drivers: np.ndarray
    departed: np.ndarray
    waiting: np.ndarray


@njit(cache=True, inline="always")
def _start(ints, floats, params, i, lane, pos, agent, kind, drivers, k, t, uid, net) -> None:
    """Vehicle ``i`` starts on ``lane`` at ``pos`` at its driver's desired speed, with driver
    ``drivers[:, k]`` of type ``kind``; ``agent`` (-1: background) is the agent it is."""
    limit = net.link_speed[net.lane_link[lane]]
    ints[:, i] = -1
    floats[:, i] = 0.0
    for c in range(params.shape[0]):
        params[c, i] = drivers[c, k]
    ints[STATUS, i] = ACTIVE
    ints[LANE, i] = lane
    ints[CTRL, i] = agent
    ints[AGENT, i] = agent
    ints[HOPS, i] = 0
    ints[UID, i] = uid
    ints[KIND, i] = kind
    floats[POS, i] = pos
    floats[FREE_TIME, i] = -pos / limit  # free-flow time from here on
    floats[SPEED, i] = params[V0, i] * limit
    floats[TARGET, i] = START_TARGET
    floats[T_ENTER, i] = t


@njit(cache=True, inline="always")
def _cap_speed(floats, params, i, room) -> None:
    """Caps vehicle ``i``'s speed so that it can stop within ``room`` at its comfortable
    deceleration (IDM then never needs more than that)."""
    safe = np.sqrt(2.0 * params[DECEL, i] * max(room - params[MIN_GAP, i], 0.0))
    floats[SPEED, i] = min(floats[SPEED, i], safe)


@njit(cache=True)
def cap_speeds(floats, params, slots, room) -> None:
    """:func:`_cap_speed` of vehicle ``slots[n]`` within ``room[n]`` for each ``n``."""
    for n in range(slots.shape[0]):
        _cap_speed(floats, params, slots[n], room[n])


@njit(cache=True)
def add_vehicles(
    ints, floats, params, slots, lanes, pos, agents, kinds, drivers, t, counts, net, route_links
) -> None:
    """Starts vehicle ``n`` in slot ``slots[n]`` on ``lanes[n]`` at ``pos[n]`` (agent
    ``agents[n]``, driver ``drivers[:, n]`` of type ``kinds[n]``), its next link picked by
    :func:`core.choose_next` (no route), and counts them in."""
    for n in range(slots.shape[0]):
        i = slots[n]
        uid = counts[Count.NEXT_UID] + n
        _start(ints, floats, params, i, lanes[n], pos[n], agents[n], kinds[n], drivers, n, t,
               uid, net)  # fmt: skip
        ints[NEXT, i] = core.choose_next(i, net.lane_link[lanes[n]], ints, net, route_links)
    counts[Count.NEXT_UID] += slots.shape[0]
    counts[Count.ENTERED] += slots.shape[0]


@njit(cache=True)
def entry_rooms(ints, floats, params, num_lanes):
    """Free length at the start of every lane, up to the rear of its last vehicle (inf when
    the lane is empty)."""
    room = np.empty(num_lanes)
    _entry_rooms_into(ints, floats, params, room)
    return room


@njit(cache=True, _nrt=False)
def _entry_rooms_into(ints, floats, params, room) -> None:
    """:func:`entry_rooms` into ``room``."""
    room[:] = np.inf
    for i in range(ints.shape[1]):
        if ints[STATUS, i] == ACTIVE:
            lane = ints[LANE, i]
            room[lane] = min(room[lane], floats[POS, i] - params[LENGTH, i])


@njit(cache=True, inline="always")
def _entry_lane(link, nxt, room, net) -> int:
    """The lane of ``link`` with the most room (the first of ties) among those that continue
    onto link ``nxt``, or among all when none does (or ``nxt`` < 0)."""
    first = net.link_lane0[link]
    best, serving = -1, False
    for lane in range(first, first + net.link_lanes[link]):
        j = net.lane_index[lane] + net.conn_offset[link, nxt] if nxt >= 0 else 0
        serves = nxt < 0 or 0 <= j < net.link_lanes[nxt]
        if serves and not serving:  # the first serving lane beats any non-serving one
            best, serving = lane, True
        elif serves == serving and (best < 0 or room[lane] > room[best]):
            best = lane
    return best


@njit(cache=True)
def insert_demand(ints, floats, params, net, queue, t, counts) -> None:
    """The demand's vehicles due by ``t`` join the queue; then each waiting one, in order,
    enters its first link (module docstring) while free slots last; ``queue.departed`` records
    the entry times."""
    work = core.scratch(ints.shape[1], net)
    insert_demand_with(ints, floats, params, net, queue, t, counts, work)


@njit(cache=True, _nrt=False)
def insert_demand_with(ints, floats, params, net, queue, t, counts, work) -> None:
    """:func:`insert_demand` in the work arrays ``work`` (a ``core.Scratch``)."""
    due = np.searchsorted(queue.depart, t + 1e-9, side="right")
    waiting = counts[Count.WAITING]
    for k in range(counts[Count.DUE], due):
        queue.waiting[waiting] = k
        waiting += 1
    counts[Count.DUE] = due
    if waiting == 0:
        return
    free, room, blocked = work.free, work.room, work.blocked
    _entry_rooms_into(ints, floats, params, free)
    for lane in range(free.shape[0]):
        room[lane] = free[lane]
    blocked[:] = False
    slot, kept = 0, 0
    m = ints.shape[1]
    for w in range(waiting):
        k = queue.waiting[w]
        start, end = queue.route_ptr[k], queue.route_ptr[k + 1]
        link = queue.route_links[start]
        nxt = queue.route_links[start + 1] if start + 1 < end else -1
        lane = -1
        if not blocked[link]:
            lane = _entry_lane(link, nxt, room, net)
            if room[lane] < ENTRY_ROOM:
                blocked[link], lane = True, -1
        while lane >= 0 and slot < m and ints[STATUS, slot] != FREE:
            slot += 1
        if lane < 0 or slot == m:
            queue.waiting[kept] = k
            kept += 1
            continue
        room[lane] = -np.inf  # one vehicle a lane a step
        _start(ints, floats, params, slot, lane, ENTRY_POS, -1, queue.kinds[k], queue.drivers,
               k, t, counts[Count.NEXT_UID], net)  # fmt: skip
        ints[ROUTE, slot], ints[ROUTE_END, slot], ints[NEXT, slot] = start, end, nxt
        _cap_speed(floats, params, slot, free[lane] - ENTRY_POS)
        queue.departed[k] = t
        counts[Count.NEXT_UID] += 1
        counts[Count.ENTERED] += 1
    counts[Count.WAITING] = kept


@njit(cache=True, _nrt=False)
def retire(ints, floats, totals, counts, keep_agents) -> None:
    """Vehicles that arrived or crashed (but agents' when ``keep_agents``, which the env books
    first) are counted, arrivals' travel time and delay (against free flow) added to
    ``totals``, and their slots freed."""
    for i in range(ints.shape[1]):
        status = ints[STATUS, i]
        if status < ARRIVED or (keep_agents and ints[AGENT, i] >= 0):
            continue
        if status == ARRIVED:
            travel = floats[T_EXIT, i] - floats[T_ENTER, i]
            totals[TRAVEL_TIME] += travel
            totals[TRAVEL_DELAY] += travel - floats[FREE_TIME, i]
            counts[Count.ARRIVED] += 1
        else:
            counts[Count.CRASHED] += 1
        ints[STATUS, i] = FREE


@njit(cache=True)
def step_world(
    ints, floats, params, light, net, plan, signals, wanted, queue, t, dt, substeps, totals,
    counts, link_delay,
) -> None:  # fmt: skip
    """One env step from time ``t`` (module docstring): ``wanted`` phases (-1: the plan's),
    the lights, ``substeps`` substeps of ``dt``, the signals' clock and the lights after it,
    the background's departures (agents stay for the env to book) and the demand due by the
    step's end. ``link_delay`` gets each link's delay of this step."""
    work = core.scratch(ints.shape[1], net)
    step_world_with(ints, floats, params, light, net, plan, signals, wanted, queue, t, dt,
                    substeps, totals, counts, link_delay, work)  # fmt: skip


@njit(cache=True, _nrt=False)
def step_world_with(
    ints, floats, params, light, net, plan, signals, wanted, queue, t, dt, substeps, totals,
    counts, link_delay, work,
) -> None:  # fmt: skip
    """:func:`step_world` in the work arrays ``work`` (a ``core.Scratch``)."""
    request_phases(plan, signals, wanted)
    set_lights(plan, signals, light)
    link_delay[:] = 0.0
    core.simulate_with(ints, floats, params, light, net, t, dt, substeps, totals, link_delay,
                       queue.route_links, work)  # fmt: skip
    advance_phases(signals)
    set_lights(plan, signals, light)
    retire(ints, floats, totals, counts, True)
    insert_demand_with(ints, floats, params, net, queue, t + dt * substeps, counts, work)


@njit(cache=True)
def run_world(
    ints, floats, params, light, net, plan, signals, wanted, queue, t, dt, substeps, totals,
    counts, link_delay, entry_lanes, present,
):  # fmt: skip
    """Up to ``present.shape[0]`` env steps of :func:`step_world` from time ``t`` in one call,
    each with the ``wanted`` phases (an env with no agent: all -1), stopping early before a
    step whose arrivals might not find a free slot (``entry_lanes`` of them at most, more
    than the slots not in use). ``present[k]`` gets the vehicles on the road after step
    ``k``. Returns the steps run and the time reached (``t`` plus one step time per step,
    added one at a time as the env's clock does)."""
    step_time = dt * substeps
    capacity = ints.shape[1]
    work = core.scratch(capacity, net)
    for k in range(present.shape[0]):
        used = counts[Count.ENTERED] - counts[Count.ARRIVED] - counts[Count.CRASHED]
        if used + entry_lanes > capacity:
            return k, t
        step_world_with(ints, floats, params, light, net, plan, signals, wanted, queue, t, dt,
                        substeps, totals, counts, link_delay, work)  # fmt: skip
        t += step_time
        on = 0
        for i in range(capacity):
            on += ints[STATUS, i] == ACTIVE
        present[k] = on
    return present.shape[0], t


def retire_reference(ints, floats, totals, counts, keep_agents):
    """NumPy reference of :func:`retire`: returns new ``ints``, ``totals`` and ``counts``."""
    ints, totals, counts = ints.copy(), totals.copy(), counts.copy()
    gone = ints[STATUS] >= ARRIVED
    if keep_agents:
        gone &= ints[AGENT] < 0
    arrived = gone & (ints[STATUS] == ARRIVED)
    travel = floats[T_EXIT, arrived] - floats[T_ENTER, arrived]
    totals[TRAVEL_TIME] += travel.sum()
    totals[TRAVEL_DELAY] += (travel - floats[FREE_TIME, arrived]).sum()
    counts[Count.ARRIVED] += arrived.sum()
    counts[Count.CRASHED] += (gone & (ints[STATUS] == CRASHED)).sum()
    ints[STATUS, gone] = FREE
    return ints, totals, counts


def insert_demand_reference(ints, floats, params, net, queue, t, counts):
    """NumPy reference of :func:`insert_demand` on copies: returns the entering vehicles'
    demand indices and lanes in order, and the indices still waiting."""
    due = int(np.searchsorted(queue.depart, t + 1e-9, side="right"))
    waiting = [*queue.waiting[: counts[Count.WAITING]], *range(counts[Count.DUE], due)]
    on = ints[STATUS] == ACTIVE
    room = np.full(net.lane_link.shape[0], np.inf)
    np.minimum.at(room, ints[LANE, on], (floats[POS] - params[LENGTH])[on])
    free_slots = int(np.sum(ints[STATUS] == FREE))
    blocked, entering, lanes_in, still = set(), [], [], []
    for k in waiting:
        route = queue.route_links[queue.route_ptr[k] : queue.route_ptr[k + 1]]
        link = int(route[0])
        if link not in blocked:
            lanes = net.link_lane0[link] + np.arange(net.link_lanes[link])
            if len(route) > 1:
                j = net.lane_index[lanes] + net.conn_offset[link, route[1]]
                serving = lanes[(j >= 0) & (j < net.link_lanes[route[1]])]
                lanes = serving if len(serving) else lanes
            lane = int(lanes[np.argmax(room[lanes])])
            if room[lane] < ENTRY_ROOM:
                blocked.add(link)
            elif len(entering) < free_slots:
                entering.append(k)
                lanes_in.append(lane)
                room[lane] = -np.inf
                continue
        still.append(k)
    return np.array(entering, dtype=np.int64), np.array(lanes_in, dtype=np.int64), still
