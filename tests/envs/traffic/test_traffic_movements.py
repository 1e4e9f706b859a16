"""Per-movement junction conflicts: foes against plane geometry, and what they let pass."""

import math

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.envs import make
from metagame.envs.traffic import core, drivers
from metagame.envs.traffic.network import compile_network, intersection

OFFSET = 0.05  # radians: entry left of its arm, exit right of it (right-hand traffic)


def _segments_cross(p, q, r, s) -> bool:
    """Plane segments pq and rs cross at a point inside both (orientation test)."""

    def side(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    return side(p, q, r) * side(p, q, s) < 0 and side(r, s, p) * side(r, s, q) < 0


def _point(angle: float) -> tuple[float, float]:
    return math.cos(angle), math.sin(angle)


def _foes(net, m) -> set:
    return set(net.move_foe[net.move_foe_ptr[m] : net.move_foe_ptr[m + 1]].tolist())


def _star(angles, lanes) -> nx.DiGraph:
    """A junction at the origin with one two-way arm of ``lanes`` lanes per angle."""
    g = nx.DiGraph()
    g.add_node("c", pos=(0.0, 0.0))
    for k, angle in enumerate(angles):
        g.add_node(k, pos=(100.0 * math.cos(angle), 100.0 * math.sin(angle)))
        g.add_edge(k, "c", lanes=lanes)
        g.add_edge("c", k, lanes=lanes)
    return g


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0.35, 2.5), min_size=3, max_size=6).filter(
        lambda g: sum(g) < 2 * math.pi - 0.35
    ),
    lanes=st.integers(1, 2),
)
def test_foes_are_paths_that_cross_or_merge_in_the_plane(gaps, lanes):
    angles = np.cumsum(gaps)
    net = compile_network(_star(angles, lanes))
    node_angle = {k: a for k, a in enumerate(angles)}
    for m in range(len(net.move_link)):
        a, o = net.move_link[m], net.move_out[m]
        entry = _point(node_angle[net.nodes[net.link_nodes[a, 0]]] + OFFSET)
        exit_ = _point(node_angle[net.nodes[net.link_nodes[o, 1]]] - OFFSET)
        expected = set()
        for f in range(len(net.move_link)):
            b, p = net.move_link[f], net.move_out[f]
            if b == a:
                continue
            other_entry = _point(node_angle[net.nodes[net.link_nodes[b, 0]]] + OFFSET)
            other_exit = _point(node_angle[net.nodes[net.link_nodes[p, 1]]] - OFFSET)
            if p == o or _segments_cross(entry, exit_, other_entry, other_exit):
                expected.add(f)
        assert _foes(net, m) == expected
        assert all(m in _foes(net, f) for f in expected)  # symmetric
    kernel = net.kernel_arrays()
    moves = range(len(net.move_link))
    assert [[core.is_foe(m, f, kernel) for f in moves] for m in moves] == [
        [f in _foes(net, m) for f in moves] for m in moves
    ]


def test_lane_miss_counts_the_lanes_to_change():
    """``lane_miss`` against lane arithmetic on the highway's lane drop and on-ramp."""
    env = make("traffic", scenario="highway", num_controlled=0, num_vehicles=0, inflow=0.0)
    net = env.net
    for lane in range(net.num_lanes):
        a = net.lane_link[lane]
        for b in [-1, *np.flatnonzero(net.conn_turn[a] >= 0)]:
            if b < 0:
                expected = 0
            else:
                j = net.lane_index[lane] + net.conn_offset[a, b]
                expected = (
                    0 if 0 <= j < net.link_lanes[b] else min(abs(j), abs(j - net.link_lanes[b] + 1))
                )
            assert (
                core.lane_miss(
                    lane, b, net.lane_link, net.lane_index, net.link_lanes, net.conn_offset
                )
                == expected
            )


def test_four_way_foes_are_the_textbook_ones():
    net = compile_network(intersection())

    def move(a, b):
        return net.conn_move[net.link_id(a, "c"), net.link_id("c", b)]

    west_straight = move("w", "e")
    assert move("e", "w") not in _foes(net, west_straight)  # opposite straights pass together
    assert move("e", "n") not in _foes(net, west_straight)  # the opposite right turn too
    assert move("e", "s") in _foes(net, west_straight)  # the opposite left turn crosses
    assert move("n", "s") in _foes(net, west_straight)
    assert move("s", "e") in _foes(net, west_straight)  # merges into the east exit
    assert move("n", "w") not in _foes(net, move("s", "e"))  # two right turns
    # A node with one way in and one way out needs no conflict zone.
    assert net.node_box.tolist() == [n == "c" for n in net.nodes]


def _two_waiting(first: str, second: str):
    """Two background vehicles stopped 3 m before the centre of the four-way junction, going
    straight from arms ``first`` and ``second``."""
    env = make("traffic", scenario="intersection", num_controlled=0, num_vehicles=0, inflow=0.0)
    net = env.net
    links = [net.link_id(first, "c"), net.link_id(second, "c")]
    lanes = net.link_lane0[links]
    slots = env.place_vehicles(lanes, net.link_length[links] - 3.0)
    for i, link in zip(slots, links):
        env.ints[core.NEXT, i] = env.turns[link, 1]  # straight
        env.floats[core.SPEED, i] = 0.0
        env.params[:, i] = drivers.TYPE_PARAMS[1]
    env.params[drivers.CRITICAL_GAP, slots] = 1.0  # the yield rule aside
    return env, slots


def _one_substep(env):
    core.simulate(
        env.ints, env.floats, env.params, env.lights, env.net.kernel_arrays(), 0.0, 0.1, 1,
        env.totals, env.link_delay, env.route_links,
    )  # fmt: skip


def test_opposite_straights_enter_together_and_crossing_ones_take_turns():
    centre = 0
    env, (a, b) = _two_waiting("e", "w")
    centre = env.net.nodes.index("c")
    _one_substep(env)
    assert env.ints[core.RES, a] == centre and env.ints[core.RES, b] == centre

    env, (a, b) = _two_waiting("e", "n")
    _one_substep(env)
    assert sorted([env.ints[core.RES, a], env.ints[core.RES, b]]) == [-1, centre]
    both = False
    for _ in range(300):
        _one_substep(env)
        holds = [env.ints[core.RES, i] == centre or env.ints[core.BOX, i] == centre for i in (a, b)]
        both |= all(holds) and np.all(env.ints[core.STATUS, [a, b]] == core.ACTIVE)
    assert not both
    assert np.all(env.ints[core.STATUS, [a, b]] == core.ARRIVED)
