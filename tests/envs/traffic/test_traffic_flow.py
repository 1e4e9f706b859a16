"""The step kernels against their NumPy references: signals, retirement, demand insertion; and
the step kernel's bookkeeping against the vehicles it moved."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagame.envs import make
from metagame.envs.traffic import core, flow
from metagame.envs.traffic.network import compile_network, from_sumo, grid
from metagame.envs.traffic.routes import Demand
from metagame.envs.traffic.signals import (
    Signals,
    SignalState,
    advance_phases,
    advance_reference,
    lights_reference,
    request_phases,
    request_reference,
    set_lights,
)

CROSS = str(Path(__file__).parent / "data" / "cross.net.xml")
GRID = compile_network(grid(3))
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _random_state(data, signals: Signals) -> SignalState:
    n = len(signals)
    ints = st.lists(st.integers(0, 6), min_size=n, max_size=n)
    phase = np.array(data.draw(ints)) % signals.num_phases
    pending = np.array(data.draw(ints)) % signals.num_phases
    return SignalState(phase, np.array(data.draw(ints)), np.array(data.draw(ints)) % 4, pending)


@SETTINGS
@given(data=st.data(), yellow=st.sampled_from([0.0, 3.0]), min_green=st.sampled_from([0.0, 2.0]))
def test_signal_kernels_match_their_references(data, yellow, min_green):
    signals = Signals(GRID.signal_phases, GRID.num_links, 1.0, min_green, yellow, 5.0)
    state = _random_state(data, signals)
    n = len(signals)
    wanted = np.array(data.draw(st.lists(st.integers(-1, 4), min_size=n, max_size=n)))
    light = np.empty(GRID.num_links, dtype=np.int8)
    set_lights(signals.plan, state, light)
    assert np.array_equal(light, lights_reference(signals.plan, state))
    expected = request_reference(signals.plan, state, wanted)
    request_phases(signals.plan, state, wanted)
    assert all(np.array_equal(a, b) for a, b in zip(state, expected))
    expected = advance_reference(state)
    advance_phases(state)
    assert all(np.array_equal(a, b) for a, b in zip(state, expected))


def _demand(net, count: int, seed: int) -> Demand:
    """``count`` vehicles at random times, each on a one- or two-link route from a source."""
    rng = np.random.default_rng(seed)
    routes = []
    for _ in range(count):
        first = int(rng.choice(net.source_links))
        onward = np.flatnonzero(net.conn_turn[first] >= 0)
        routes.append([first, int(rng.choice(onward))] if len(onward) else [first])
    ptr = np.zeros(count + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(r) for r in routes])
    return Demand(
        ids=tuple(str(k) for k in range(count)),
        depart=np.sort(rng.uniform(0.0, 60.0, count)),
        route_ptr=ptr,
        route_links=np.concatenate(routes).astype(np.int64),
    )


@pytest.fixture(scope="module")
def cross():
    return from_sumo(CROSS)


@SETTINGS
@given(seed=st.integers(0, 10_000), steps=st.integers(0, 40), count=st.integers(1, 120))
def test_insertion_matches_its_reference(cross, seed, steps, count):
    env = make("traffic", network=CROSS, routes=_demand(cross, count, seed), num_controlled=0,
               dt=0.5, substeps=2, seed=seed)  # fmt: skip
    for _ in range(steps):
        env.step({})
    queue, counts = env.demand_queue, env.counts.copy()
    t = env.t + 1.0
    entering, lanes, still = flow.insert_demand_reference(
        env.ints, env.floats, env.params, env.kernel_net, queue, t, counts
    )
    before = np.isnan(queue.departed)
    flow.insert_demand(env.ints, env.floats, env.params, env.kernel_net, queue, t, env.counts)
    entered = np.flatnonzero(before & ~np.isnan(queue.departed))
    assert np.array_equal(entered, np.sort(entering))
    assert list(queue.waiting[: env.counts[flow.Count.WAITING]]) == still
    new = np.flatnonzero(env.floats[core.T_ENTER] == t)
    by_uid = new[np.argsort(env.ints[core.UID, new])]  # ids are given in order of entry
    assert np.array_equal(env.ints[core.LANE, by_uid], lanes)
    assert env.counts[flow.Count.ENTERED] == counts[flow.Count.ENTERED] + len(entering)


@SETTINGS
@given(seed=st.integers(0, 10_000), keep_agents=st.booleans())
def test_retirement_matches_its_reference(seed, keep_agents):
    env = make("traffic", scenario="grid", num_controlled=3, num_vehicles=30, seed=seed)
    for _ in range(5):
        env.step({})
    rng = np.random.default_rng(seed)
    ints, floats = env.ints, env.floats
    active = np.flatnonzero(ints[core.STATUS] == core.ACTIVE)
    ints[core.STATUS, active] = rng.choice([core.ACTIVE, core.ARRIVED, core.CRASHED], len(active))
    floats[core.T_EXIT, active] = env.t + rng.uniform(0.0, 1.0, len(active))
    totals, counts = env.totals.copy(), env.counts.copy()
    expected = flow.retire_reference(ints, floats, totals, counts, keep_agents)
    flow.retire(ints, floats, totals, counts, keep_agents)
    assert np.array_equal(ints, expected[0])
    assert np.allclose(totals, expected[1]) and np.array_equal(counts, expected[2])


def test_step_books_every_vehicle_once(cross):
    """Over a run, entered = arrived + crashed + on the road, and the travel times the kernel
    books are those of the vehicles that arrived."""
    env = make("traffic", network=CROSS, routes=_demand(cross, 80, 1), num_controlled=0,
               max_steps=200, dt=0.5, substeps=2, seed=1)  # fmt: skip
    for _ in range(200):
        env.step({})
    m = env.metrics()
    assert m["entered"] == np.sum(~np.isnan(env.departed)) == 80
    assert m["entered"] == m["arrived"] + m["crashed"] + env.num_present()
    assert m["arrived"] > 40 and m["mean_travel_time"] > 0.0 and m["delay"] >= -1e-9


def test_a_game_without_agents_steps_its_traffic_and_refuses_actions(cross):
    env = make("traffic", network=CROSS, routes=_demand(cross, 20, 2), num_controlled=0,
               dt=0.5, substeps=2, seed=2)  # fmt: skip
    assert env.possible_agents == [] and env.agents == []
    for _ in range(30):
        assert env.step({}) == ({}, {}, {}, {}, {})
    assert env.t == pytest.approx(30.0) and env.metrics()["entered"] > 0
    with pytest.raises(ValueError, match="no agent"):
        env.step({"vehicle_0": 0})


@SETTINGS
@given(
    seed=st.integers(0, 10_000),
    count=st.integers(1, 300),
    pieces=st.lists(st.integers(0, 60), min_size=1, max_size=4),
    inflow=st.sampled_from([0.0, 900.0]),
)
def test_advance_is_the_same_as_stepping(cross, seed, count, pieces, inflow):
    """``advance`` in pieces (one kernel call each, back in Python when the state grows past
    its 64 slots) leaves the same state, clock and metrics as ``step({})`` one at a time, and
    returns the vehicles on the road after each step."""
    stepped, advanced = (
        make("traffic", network=CROSS, routes=_demand(cross, count, seed), num_controlled=0,
             inflow=inflow, dt=0.5, substeps=2, seed=seed)
        for _ in range(2)
    )  # fmt: skip
    present = []
    for _ in range(sum(pieces)):
        stepped.step({})
        present.append(stepped.num_present())
    chunks = [advanced.advance(n) for n in pieces]
    assert np.array_equal(np.concatenate(chunks), present)
    assert (advanced.t, advanced.steps) == (stepped.t, stepped.steps)
    for name in ("ints", "floats", "params", "totals", "counts"):
        assert np.array_equal(getattr(advanced, name), getattr(stepped, name)), name
    assert advanced.metrics() == stepped.metrics()


def test_advance_refuses_a_game_with_agents():
    env = make("traffic", scenario="intersection", num_controlled=1, seed=0)
    with pytest.raises(ValueError, match="no agent"):
        env.advance(3)
