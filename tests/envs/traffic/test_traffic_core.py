"""The Numba kernels against their NumPy references, and the network compiler."""

import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metagame.envs import make
from metagame.envs.traffic import core, drivers, observe
from metagame.envs.traffic.network import (
    LEFT,
    RIGHT,
    STRAIGHT,
    compile_network,
    from_sumo,
    grid,
    highway,
    intersection,
)


@pytest.mark.parametrize("scenario", ["intersection", "grid", "highway", "roundabout"])
def test_leaders_and_accelerations_match_reference(scenario):
    env = make(
        "traffic",
        scenario=scenario,
        num_controlled=2,
        num_vehicles=20,
        inflow=1500.0,
        max_steps=50,
        seed=4,
    )
    net = env.net.kernel_arrays()
    for _ in range(30):
        env.step({a: 1 for a in env.agents})
        order, rank, start, end = core.sort_lanes(env.ints, env.floats, env.net.num_lanes)
        got = core.leaders(env.ints, env.floats, env.params, order, rank, start, end, net)
        want = core.leaders_reference(env.ints, env.floats, env.params, net)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        # Accelerations from those leaders (IDM, stop lines, controlled speed tracking).
        floats = env.floats.copy()
        active = np.flatnonzero(env.ints[core.STATUS] == core.ACTIVE)
        core.accelerations(env.ints, floats, env.params, got[1], got[2], env.lights, net, active)
        expected = core.accelerations_reference(
            env.ints, env.floats, env.params, want[1], want[2], env.lights, net
        )
        alive = env.ints[core.STATUS] == core.ACTIVE
        np.testing.assert_allclose(floats[core.ACC, alive], expected[alive], rtol=1e-9, atol=1e-9)
        # Sorted order is (lane, position): check it against NumPy's lexsort.
        alive = np.flatnonzero(env.ints[core.STATUS] == core.ACTIVE)
        ref = alive[np.lexsort((alive, env.floats[core.POS, alive], env.ints[core.LANE, alive]))]
        np.testing.assert_array_equal(order, ref)


@settings(max_examples=30)
@given(
    v=hnp.arrays(np.float64, 20, elements=st.floats(0.0, 40.0)),
    a=hnp.arrays(np.float64, 20, elements=st.floats(-9.0, 3.0)),
    dt=st.floats(0.01, 0.5),
)
def test_ballistic_matches_reference(v, a, dt):
    got = np.array([core.ballistic(vi, ai, dt) for vi, ai in zip(v, a)])
    want_v, want_ds = core.ballistic_reference(v, a, dt)
    np.testing.assert_allclose(got[:, 0], want_v, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got[:, 1], want_ds, rtol=1e-12, atol=1e-12)
    assert np.all(got[:, 0] >= 0.0) and np.all(got[:, 1] >= -1e-12)


@settings(max_examples=30)
@given(
    v=hnp.arrays(np.float64, 12, elements=st.floats(0.0, 35.0)),
    gap=hnp.arrays(np.float64, 12, elements=st.floats(0.1, 300.0)),
    v_lead=hnp.arrays(np.float64, 12, elements=st.floats(0.0, 35.0)),
    seed=st.integers(0, 1000),
)
def test_idm_matches_reference(v, gap, v_lead, seed):
    _, params = drivers.sample_drivers(np.random.default_rng(seed), 12, "chaotic")
    params = np.ascontiguousarray(params.T)
    v0 = params[drivers.V0] * 30.0
    gap = gap.copy()
    gap[::4] = drivers.FREE_GAP
    got = np.array([drivers.idm(v[i], v0[i], gap[i], v_lead[i], params, i) for i in range(12)])
    want = drivers.idm_reference(v, v0, gap, v_lead, params)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_idm_known_values():
    params = np.zeros((9, 1))
    params[[drivers.V0, drivers.HEADWAY, drivers.ACCEL, drivers.DECEL, drivers.MIN_GAP], 0] = (
        1.0,
        1.5,
        1.0,
        2.0,
        2.0,
    )
    # Free road at the desired speed: no acceleration; standing start: full acceleration.
    assert drivers.idm(30.0, 30.0, drivers.FREE_GAP, 0.0, params, 0) == pytest.approx(0.0)
    assert drivers.idm(0.0, 30.0, drivers.FREE_GAP, 0.0, params, 0) == pytest.approx(1.0)
    # Standing at the minimum gap behind a standing leader: a (1 - 0 - 1) = 0.
    assert drivers.idm(0.0, 30.0, 2.0, 0.0, params, 0) == pytest.approx(0.0)
    # s* = s0 + v T = 2 + 15 = 17 at equal speeds; gap 17 -> a (1 - (10/30)^4 - 1).
    assert drivers.idm(10.0, 30.0, 17.0, 10.0, params, 0) == pytest.approx(-((1 / 3) ** 4))


def test_route_choice_is_uniform_and_deterministic():
    picks = np.array([core._route_choice(uid, 3, 3) for uid in range(3000)])
    counts = np.bincount(picks, minlength=3)
    assert np.all(np.abs(counts - 1000) < 100)
    assert core._route_choice(17, 2, 5) == core._route_choice(17, 2, 5)


def test_network_compiler_turns_conflicts_and_lane_offsets():
    net = compile_network(intersection())
    west_in, north_out, east_out, south_out = (
        net.link_id("w", "c"),
        net.link_id("c", "n"),
        net.link_id("c", "e"),
        net.link_id("c", "s"),
    )
    assert net.conn_turn[west_in, north_out] == LEFT
    assert net.conn_turn[west_in, east_out] == STRAIGHT
    assert net.conn_turn[west_in, south_out] == RIGHT
    assert net.conn_turn[west_in, net.link_id("c", "w")] == -1  # no U-turns
    assert net.node_box[net.nodes.index("c")] and net.node_box.sum() == 1
    west_straight, kernel = net.conn_move[west_in, east_out], net.kernel_arrays()
    assert core.is_foe(west_straight, net.conn_move[net.link_id("n", "c"), south_out], kernel)
    assert not core.is_foe(
        west_straight, net.conn_move[net.link_id("e", "c"), net.link_id("c", "w")], kernel
    )
    assert sorted(net.source_links) == sorted(net.link_id(a, "c") for a in "nesw")

    hw = compile_network(highway())
    ramp, main = hw.link_id("ramp", "merge"), hw.link_id("start", "merge")
    accel = hw.link_id("merge", "lane_drop")
    assert hw.conn_offset[ramp, accel] == 0 and hw.conn_offset[main, accel] == 1
    assert not hw.node_box.any()  # the ramp and the main road feed different lanes
    drop = hw.link_id("lane_drop", "end")
    lane0 = hw.link_lane0[accel]
    nl = core.next_lane(
        lane0, drop, hw.lane_link, hw.lane_index, hw.link_lanes, hw.link_lane0, hw.conn_offset
    )
    assert nl == core.DEAD_END  # the acceleration lane ends

    g = compile_network(grid(2))
    assert len(g.signal_nodes) == 4 and all(len(p) == 2 for p in g.signal_phases)


def test_network_errors_name_the_problem():
    g = nx.DiGraph()
    g.add_node("a", pos=(0, 0))
    g.add_node("b")
    g.add_edge("a", "b")
    with pytest.raises(ValueError, match="'b'.*pos"):
        compile_network(g)
    g.nodes["b"]["pos"] = (5, 0)
    with pytest.raises(ValueError, match="length"):
        compile_network(g)
    g.nodes["b"]["pos"] = (100, 0)
    g.edges["a", "b"]["lanes"] = 0
    with pytest.raises(ValueError, match="lanes"):
        compile_network(g)
    with pytest.raises(ValueError, match="DiGraph"):
        compile_network(nx.Graph())
    h = intersection()
    h.nodes["c"]["phases"] = [["n", "s"], ["x"]]
    with pytest.raises(ValueError, match="'x'"):
        compile_network(h)


def test_custom_graph_runs_as_an_environment():
    g = nx.DiGraph()
    for name, pos in {"a": (0, 0), "b": (300, 0), "c": (600, 50), "d": (600, -50)}.items():
        g.add_node(name, pos=pos)
    g.add_edge("a", "b", lanes=2, speed=20.0)
    g.add_edge("b", "c", speed=15.0)
    g.add_edge("b", "d", speed=15.0)
    env = make("traffic", network=g, num_controlled=1, num_vehicles=6, max_steps=40, seed=0)
    assert env.scenario == "custom"
    for _ in range(40):
        env.step({a: 0 for a in env.agents})
    assert env.metrics()["arrived"] > 0


SUMO_CROSS = Path(__file__).parent / "data" / "cross.net.xml"


def test_sumo_network_gives_links_lanes_and_signal_phases():
    net = from_sumo(str(SUMO_CROSS))
    g = net.graph
    assert sorted(g.edges) == sorted(
        [(a, "C") for a in "EWNS"] + [("C", b) for b in "EWNS"]
    )  # the internal edge and the footpath are skipped
    assert g.edges["W", "C"]["lanes"] == 2 and g.edges["N", "C"]["lanes"] == 1
    assert g.edges["W", "C"]["speed"] == pytest.approx(13.89)
    assert g.edges["W", "C"]["priority"] > g.edges["N", "C"]["priority"]
    assert g.edges["W", "C"]["length"] == pytest.approx(188.0)
    assert g.nodes["E"]["pos"] == (200.0, 0.0)
    # green phases only (yellow dropped), each the approaches with a green link
    assert g.nodes["C"]["phases"] == [["E", "W"], ["N", "S"]]
    assert [net.nodes[i] for i in net.signal_nodes] == ["C"]


def _cross_with_vias(tmp_path, vias, onward=":C_0_1"):
    """The test cross with a second internal lane ``:C_0_1`` (8 m) and ``via`` attributes:
    ``vias`` maps a connection's opening text to the lane it goes via, and ``:C_0_0`` leads
    on via ``onward`` (a left turn's two internal lanes in SUMO)."""
    text = SUMO_CROSS.read_text().replace(
        '</edge>\n    <edge id="W2C"',
        '    <lane id=":C_0_1" index="1" speed="13.89" length="8.00" shape="0,0 8,0"/>\n'
        '    </edge>\n    <edge id="W2C"',
        1,
    )
    for opening, via in vias.items():
        text = text.replace(opening, f'{opening} via="{via}"')
    text = text.replace(
        "</net>",
        '    <connection from=":C_0" to="C2E" fromLane="0" toLane="0" dir="s" state="M"'
        f' via="{onward}"/>\n</net>',
    )
    path = tmp_path / "vias.net.xml"
    path.write_text(text)
    return str(path)


def test_sumo_links_are_lengthened_by_their_junction_crossing(tmp_path):
    """A link gets the mean length of the internal lane chains of the connections into it:
    C -> E has four (W lane 0 via :C_0_0 and on via :C_0_1, 12 + 8 m; W lane 1, N and S
    without one), so 188 + 20 / 4 m; links without vias keep their length."""
    opening = '<connection from="W2C" to="C2E" fromLane="0"'
    net = from_sumo(_cross_with_vias(tmp_path, {opening: ":C_0_0"}))
    assert net.graph.edges["C", "E"]["length"] == pytest.approx(188.0 + 20.0 / 4)
    assert net.graph.edges["C", "W"]["length"] == pytest.approx(188.0)
    # a via chain that loops back stops at the lane seen twice
    net = from_sumo(_cross_with_vias(tmp_path, {opening: ":C_0_0"}, onward=":C_0_0"))
    assert net.graph.edges["C", "E"]["length"] == pytest.approx(188.0 + 12.0 / 4)
    with pytest.raises(ValueError, match="vias.net.xml.*unknown lane ':C_9_0'"):
        from_sumo(_cross_with_vias(tmp_path, {opening: ":C_9_0"}))


def test_sumo_network_runs_with_signal_control():
    env = make(
        "traffic",
        network=str(SUMO_CROSS),
        num_controlled=0,
        control_signals=True,
        num_vehicles=20,
        inflow=1800.0,
        max_steps=120,
        seed=0,
    )
    env.reset(seed=0)
    assert env.agents == ["signal_0"] and env.scenario == "custom"
    for t in range(120):
        env.step({"signal_0": (t // 30) % 2})
    assert env.metrics()["arrived"] > 0


def test_unreadable_sumo_network_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.net.xml"
    bad.write_text("<net><edge id=")
    with pytest.raises(ValueError, match="bad.net.xml"):
        from_sumo(str(bad))


def test_sumo_without_sumolib_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sumolib", None)  # as if the sumo extra were not installed
    with pytest.raises(ValueError, match="sumolib"):
        make("traffic", network="net.net.xml")


@pytest.mark.parametrize("scenario", ["intersection", "roundabout", "highway"])
def test_neighbour_features_match_reference(scenario):
    env = make(
        "traffic",
        scenario=scenario,
        num_controlled=4,
        num_vehicles=15,
        inflow=1200.0,
        k_nearest=6,
        obs_range=80.0,
        seed=6,
    )
    for _ in range(8):
        env.step({a: 0 for a in env.agents})
        active, xy_active, heading_active = env.world_positions()
        xy, heading = np.zeros((env.ints.shape[1], 2)), np.zeros((env.ints.shape[1], 2))
        xy[active], heading[active] = xy_active, heading_active
        egos = np.flatnonzero(env.ints[core.STATUS] == core.ACTIVE)[:6]
        got = observe.neighbour_features(egos, env.ints, env.floats, xy, heading, 6, 80.0, 40.0)
        want = observe.neighbour_features_reference(
            egos, env.ints, env.floats, xy, heading, 6, 80.0, 40.0
        )
        np.testing.assert_allclose(got, want, atol=1e-12)


def _two_vehicle_junction(minor_gap, major_rest, major_speed):
    """A minor-road vehicle waiting at the stop line and a major-road vehicle approaching."""
    env = make("traffic", scenario="intersection", num_controlled=0, num_vehicles=0, inflow=0.0)
    net = env.net
    minor, major = net.link_id("n", "c"), net.link_id("e", "c")
    lanes = np.array([net.link_lane0[minor], net.link_lane0[major]])
    pos = np.array([net.link_length[minor] - 3.0, net.link_length[major] - major_rest])
    a, b = env.place_vehicles(lanes, pos)
    for i, link in ((a, minor), (b, major)):
        env.ints[core.NEXT, i] = env.turns[link, STRAIGHT]
    env.floats[core.SPEED, a] = 0.0
    env.floats[core.SPEED, b] = major_speed
    env.params[:, a] = env.params[:, b] = drivers.TYPE_PARAMS[1]  # normal drivers
    env.params[drivers.CRITICAL_GAP, a] = minor_gap
    return env, a, b


def _substeps(env, n):
    core.simulate(
        env.ints,
        env.floats,
        env.params,
        env.lights,
        env.net.kernel_arrays(),
        0.0,
        0.1,
        n,
        env.totals,
        env.link_delay,
        env.route_links,
    )


@pytest.mark.parametrize("minor_gap, waits", [(6.0, True), (4.0, False)])
def test_gap_acceptance_on_the_minor_road(minor_gap, waits):
    # The major vehicle is 25 m out at 5 m/s: 5 s away, not yet reserving the junction.
    env, a, b = _two_vehicle_junction(minor_gap, major_rest=25.0, major_speed=5.0)
    _substeps(env, 1)
    assert env.ints[core.RES, b] == -1
    assert (env.ints[core.RES, a] == -1) == waits


def test_major_road_has_priority_and_the_zone_is_exclusive():
    env, a, b = _two_vehicle_junction(4.5, major_rest=30.0, major_speed=12.0)
    _substeps(env, 1)
    centre = env.net.nodes.index("c")
    assert env.ints[core.RES, b] == centre and env.ints[core.RES, a] == -1
    seen_a = False
    for _ in range(150):
        _substeps(env, 1)
        holds_b = env.ints[core.RES, b] == centre or env.ints[core.BOX, b] == centre
        holds_a = env.ints[core.RES, a] == centre or env.ints[core.BOX, a] == centre
        assert not (holds_a and holds_b and env.ints[core.STATUS, b] == core.ACTIVE)
        seen_a |= bool(holds_a)
    assert seen_a  # the minor vehicle goes once the major one has cleared the zone
    assert np.all(env.ints[core.STATUS, [a, b]] != core.CRASHED)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), count=st.integers(12, 40), in_zone=st.floats(0.1, 1.0))
def test_collisions_match_reference(seed, count, in_zone):
    """Random crowded states on the test cross (overlaps on lanes and across link ends,
    vehicles inside the junction's zone on random movements): the collision kernel flags
    the same vehicles as the pairwise NumPy reference."""
    net = from_sumo(str(SUMO_CROSS))
    kernel = net.kernel_arrays()
    rng = np.random.default_rng(seed)
    ints, floats, params = core.empty_state(48)
    slots = rng.choice(48, count, replace=False)
    ints[core.STATUS, slots] = core.ACTIVE
    ints[core.LANE, slots] = rng.integers(net.num_lanes, size=count)
    links = net.lane_link[ints[core.LANE, slots]]
    floats[core.POS, slots] = rng.random(count) * net.link_length[links]
    params[drivers.LENGTH, slots] = 5.0
    ints[core.NEXT, slots] = [rng.choice(np.flatnonzero(net.conn_turn[k] >= 0)) if
                              np.any(net.conn_turn[k] >= 0) else -1 for k in links]  # fmt: skip
    centre = net.nodes.index("C")
    zone = slots[rng.random(count) < in_zone]
    ints[core.BOX, zone] = centre
    ints[core.MOVE, zone] = rng.integers(len(net.move_link), size=len(zone))
    lanes = core.sort_lanes(ints, floats, net.num_lanes)
    ahead = core.leaders(ints, floats, params, lanes.order, lanes.rank, lanes.start, lanes.end,
                         kernel)  # fmt: skip
    got = core.collisions(ints, ahead, kernel)
    np.testing.assert_array_equal(got, core.collisions_reference(ints, ahead, kernel))
