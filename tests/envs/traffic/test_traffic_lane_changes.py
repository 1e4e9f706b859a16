"""Lane changes (core.change_lanes): safe for the changing driver as well as for its new
follower, so that a dense merge of SUMO's cars (speed factors above 1 included) never
crashes."""

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from metagame.envs import make
from metagame.envs.traffic import core, drivers

SUMO_CROSS = str(Path(__file__).parent / "data" / "cross.net.xml")


@pytest.mark.parametrize("network", ["grid", "highway", SUMO_CROSS])
def test_lane_change_candidates_match_reference(network):
    """The candidates' kernel against its NumPy reference on the states of 40 steps, both
    directions, with cooldowns cleared for half the vehicles so that many are candidates."""
    where = dict(network=network) if network == SUMO_CROSS else dict(scenario=network)
    env = make("traffic", **where, num_controlled=0, num_vehicles=20, inflow=2400.0,
               max_steps=40, seed=1)  # fmt: skip
    net = env.net.kernel_arrays()
    rng = np.random.default_rng(0)
    seen = 0
    for _ in range(40):
        env.step({})
        floats = env.floats.copy()
        floats[core.LC_TIMER, rng.random(floats.shape[1]) < 0.5] = 0.0
        for direction in (1, -1):
            got = core.lane_change_candidates(env.ints, floats, env.params, net, direction)
            want = core.lane_change_candidates_reference(
                env.ints, floats, env.params, net, direction
            )
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            seen += len(got[0])
    assert seen > 50


def _merge_graph():
    """A two-lane road ``f -> a -> b`` whose left lane alone continues onto the one-lane
    ``b -> c``: a vehicle on the right lane must change left before ``b`` (a strategic
    change)."""
    g = nx.DiGraph()
    for name, pos in {"f": (-200, 0), "a": (0, 0), "b": (300, 0), "c": (600, 0)}.items():
        g.add_node(name, pos=pos)
    g.add_edge("f", "a", lanes=2, speed=13.89)
    g.add_edge("a", "b", lanes=2, speed=13.89)
    g.add_edge("b", "c", lanes=1, speed=13.89, offsets={"a": -1})
    return g


def _merge_road():
    """The merge (:func:`_merge_graph`) without traffic."""
    return make("traffic", network=_merge_graph(), num_controlled=0, num_vehicles=0,
                inflow=0.0, seed=0)  # fmt: skip


def _scene(env, right_pos, right_speed, left_pos, left_speed):
    """One vehicle on the right lane at ``right_pos`` that must move left, one on the left
    lane; both SUMO's default car, past their lane-change cooldown."""
    lane0 = env.net.link_lane0[env.net.link_id("a", "b")]
    slots = env.place_vehicles(np.array([lane0, lane0 + 1]), np.array([right_pos, left_pos]))
    env.params[:, slots] = drivers.TYPE_PARAMS[drivers.DRIVER_TYPES.index("passenger")][:, None]
    env.floats[core.SPEED, slots] = [right_speed, left_speed]
    env.floats[core.LC_TIMER, slots] = 0.0
    return slots


def _change_left(env):
    net = env.net.kernel_arrays()
    lanes = core.sort_lanes(env.ints, env.floats, env.net.num_lanes)
    ahead = core.leaders(env.ints, env.floats, env.params, lanes.order, lanes.rank,
                         lanes.start, lanes.end, net)  # fmt: skip
    active = np.flatnonzero(env.ints[core.STATUS] == core.ACTIVE)
    core.accelerations(env.ints, env.floats, env.params, ahead.gap, ahead.v_lead, env.lights, net,
                       active)  # fmt: skip
    core.change_lanes(env.ints, env.floats, env.params, lanes, ahead, env.lights, net, 1)


def _own_braking(env, i, gap, v_lead):
    net = env.net
    v0 = env.params[drivers.V0, i] * net.link_speed[net.lane_link[env.ints[core.LANE, i]]]
    return drivers.idm(env.floats[core.SPEED, i], v0, gap, v_lead, env.params, i)


def test_no_strategic_change_into_a_gap_the_driver_cannot_brake_for():
    """At 15 m/s, 10 m behind a standing car on the left lane: moving there would need far
    more than B_SAFE of braking (IDM asks about -30 m/s^2), so the driver stays right."""
    env = _merge_road()
    mover, stopped = _scene(env, 100.0, 15.0, 115.0, 0.0)
    gap = 115.0 - env.params[drivers.LENGTH, stopped] - 100.0
    assert _own_braking(env, mover, gap, 0.0) < -drivers.B_SAFE
    _change_left(env)
    assert env.ints[core.LANE, mover] == env.net.link_lane0[env.net.link_id("a", "b")]


def test_strategic_change_behind_a_car_far_enough_ahead():
    """The same driver moves left behind the standing car when it is 80 m ahead."""
    env = _merge_road()
    mover, _ = _scene(env, 100.0, 15.0, 185.0, 0.0)
    _change_left(env)
    assert env.ints[core.LANE, mover] == env.net.link_lane0[env.net.link_id("a", "b")] + 1


def test_two_drivers_of_one_lane_do_not_change_into_one_gap_on_top_of_each_other():
    """Two standing cars 0.3 m apart at the end of the right lane, the left lane empty: both
    must move left, but the rear one only once it is 1 m behind the front one there (deciding
    on the state before the changes, both moved and collided)."""
    env = _merge_road()
    lane0 = env.net.link_lane0[env.net.link_id("a", "b")]
    rear, front = env.place_vehicles(np.array([lane0, lane0]), np.array([289.7, 295.0]))
    env.params[:, [rear, front]] = drivers.TYPE_PARAMS[3][:, None]
    env.floats[core.SPEED, [rear, front]] = 0.0
    env.floats[core.LC_TIMER, [rear, front]] = 0.0
    _change_left(env)
    assert env.ints[core.LANE, front] == lane0 + 1 and env.ints[core.LANE, rear] == lane0
    core.simulate(env.ints, env.floats, env.params, env.lights, env.net.kernel_arrays(), 0.5,
                  0.5, 40, env.totals, env.link_delay, env.route_links)  # fmt: skip
    assert not np.any(env.ints[core.STATUS, [rear, front]] == core.CRASHED)


@settings(max_examples=60, deadline=None)
@given(
    right_pos=st.floats(20.0, 250.0),
    right_speed=st.floats(0.0, 18.0),
    ahead=st.floats(-60.0, 60.0),
    left_speed=st.floats(0.0, 18.0),
)
@example(right_pos=100.0, right_speed=15.0, ahead=15.0, left_speed=0.0)
@example(right_pos=100.0, right_speed=15.0, ahead=15.0, left_speed=5.0)
def test_two_cars_at_a_merge_never_crash(right_pos, right_speed, ahead, left_speed):
    """From any scene of a car that must move left and one on the left lane (apart by more
    than a car length), 20 s of the kernel (its first substep changes lanes to the left)
    crash neither."""
    env = _merge_road()
    left_pos = right_pos + ahead
    assume(10.0 <= left_pos <= 290.0 and abs(ahead) >= 6.0)
    slots = _scene(env, right_pos, right_speed, left_pos, left_speed)
    core.simulate(env.ints, env.floats, env.params, env.lights, env.net.kernel_arrays(), 0.0,
                  0.5, 40, env.totals, env.link_delay, env.route_links)  # fmt: skip
    assert not np.any(env.ints[core.STATUS, slots] == core.CRASHED)


@pytest.mark.parametrize("period", [1.5, 2.0])
def test_a_dense_merge_of_sumo_cars_never_crashes(tmp_path, period):
    """A vehicle every ``period`` s for 600 s onto two lanes that merge into one, 400 m on:
    the right lane's drivers must all change left in dense traffic. (Before the changer's
    own safety was checked, 6-10 of 300 crashed at 2 s and over 90 at 1.5 s.)"""
    routes = tmp_path / "merge.rou.xml"
    routes.write_text(
        f'<routes><flow id="m" begin="0" end="600" period="{period}" from="f-a" to="b-c"/></routes>'
    )
    env = make("traffic", network=_merge_graph(), routes=str(routes),
               num_controlled=0, traffic="sumo", max_steps=700, seed=0)  # fmt: skip
    assert np.any(env.demand_queue.drivers[drivers.V0] > 1.0)  # SUMO's faster drivers too
    env.advance(700)
    m = env.metrics()
    assert m["crashed"] == 0
    assert m["arrived"] >= 290  # the merge keeps flowing: one lane's ~1,800 vehicles/h
