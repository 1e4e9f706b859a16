"""SUMO route files: read, written back, routed, and driven by the traffic env."""

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metagame.envs import make
from metagame.envs.traffic.network import compile_network, from_sumo, grid
from metagame.envs.traffic.routes import Demand, flow_departures, read_routes, write_routes

CROSS = str(Path(__file__).parent / "data" / "cross.net.xml")
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HAND_WRITTEN = """<?xml version="1.0" encoding="UTF-8"?>
<routes>
    <vType id="car" accel="2.6" decel="4.5" length="5"/>
    <route id="east" edges="W2C C2E"/>
    <vehicle id="v0" depart="3.5" route="east" type="car"/>
    <trip id="t0" depart="1" from="W2C" to="C2N"/>
    <interval begin="0" end="100">
        <flow id="f" begin="0" end="10" period="3" from="S2C" to="C2N"/>
    </interval>
    <flow id="g" begin="0" end="100" number="4"><route edges="E2C C2W"/></flow>
    <flow id="h" begin="20" end="30" vehsPerHour="720" route="east"/>
</routes>
"""


@pytest.fixture(scope="module")
def cross():
    return from_sumo(CROSS)


def _names(net, demand: Demand, k: int) -> list[str]:
    return [net.link_names[link] for link in demand.route(k)]


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_hand_written_file_reads_to_known_vehicles(tmp_path, cross):
    demand = read_routes(_write(tmp_path, "hand.rou.xml", HAND_WRITTEN), cross)
    expected = {
        "f.0": (0.0, ["S2C", "C2N"]),
        "g.0": (0.0, ["E2C", "C2W"]),
        "t0": (1.0, ["W2C", "C2N"]),
        "f.1": (3.0, ["S2C", "C2N"]),
        "v0": (3.5, ["W2C", "C2E"]),
        "f.2": (6.0, ["S2C", "C2N"]),
        "f.3": (9.0, ["S2C", "C2N"]),
        "h.0": (20.0, ["W2C", "C2E"]),
        "g.1": (25.0, ["E2C", "C2W"]),
        "h.1": (25.0, ["W2C", "C2E"]),
        "g.2": (50.0, ["E2C", "C2W"]),
        "g.3": (75.0, ["E2C", "C2W"]),
    }
    assert list(demand.ids) == list(expected)  # by departure, ties in file order
    for k, vehicle in enumerate(demand.ids):
        assert (demand.depart[k], _names(cross, demand, k)) == expected[vehicle]


def test_written_demand_reads_back_the_same(tmp_path, cross):
    demand = read_routes(_write(tmp_path, "hand.rou.xml", HAND_WRITTEN), cross)
    out = str(tmp_path / "out.rou.xml")
    write_routes(demand, cross, out)
    again = read_routes(out, cross)
    assert again.ids == demand.ids
    assert np.array_equal(again.depart, demand.depart)
    assert np.array_equal(again.route_ptr, demand.route_ptr)
    assert np.array_equal(again.route_links, demand.route_links)


@SETTINGS
@given(
    vehicles=st.lists(
        st.tuples(
            st.floats(0, 1e5, allow_nan=False),
            st.sampled_from(["W2C C2E", "S2C C2N", "E2C C2S", "N2C", "C2W", "N2C C2E"]),
        ),
        max_size=20,
    )
)
def test_any_demand_round_trips(tmp_path, cross, vehicles):
    lines = ["<routes>"]
    for k, (depart, edges) in enumerate(vehicles):
        lines.append(
            f'<vehicle id="x&amp;{k}" depart="{depart!r}"><route edges="{edges}"/></vehicle>'
        )
    demand = read_routes(_write(tmp_path, "any.rou.xml", "\n".join([*lines, "</routes>"])), cross)
    assert sorted(demand.ids) == sorted(f"x&{k}" for k in range(len(vehicles)))
    assert np.all(np.diff(demand.depart) >= 0)
    out = str(tmp_path / "again.rou.xml")
    write_routes(demand, cross, out)
    again = read_routes(out, cross)
    assert again.ids == demand.ids and np.array_equal(again.depart, demand.depart)
    assert np.array_equal(again.route_links, demand.route_links)


def _departures_by_hand(begin, end, period, vph, number):
    """Flow departures by repeated addition (the reader multiplies)."""
    if period is None and vph is None:
        period = (end - begin) / number
        return [begin + k * period for k in range(number)]
    period = period if period is not None else 3600.0 / vph
    times, t = [], begin
    while t < end - 1e-9 * max(1.0, end) and (number is None or len(times) < number):
        times.append(t)
        t += period
    return times


@settings(max_examples=200, deadline=None)
@given(
    begin=st.floats(0, 1000),
    length=st.floats(0.5, 2000),
    rate=st.one_of(
        st.tuples(st.just("period"), st.floats(0.7, 300)),
        st.tuples(st.just("vph"), st.floats(10, 5000)),
        st.tuples(st.just("number"), st.integers(1, 400)),
    ),
    cap=st.one_of(st.none(), st.integers(0, 50)),
)
def test_flow_departures_match_repeated_addition(begin, length, rate, cap):
    kind, value = rate
    end = begin + length
    period = value if kind == "period" else None
    vph = value if kind == "vph" else None
    number = value if kind == "number" else cap
    times = flow_departures(begin, end, period, vph, None, number, np.random.default_rng(0))
    expected = _departures_by_hand(begin, end, period, vph, number)
    # The two may disagree on a departure within rounding of ``end``.
    if len(times) != len(expected):
        assert abs(len(times) - len(expected)) == 1
        assert abs(max(times[-1:].tolist() + expected[-1:]) - end) < 1e-6 * max(1.0, end)
    n = min(len(times), len(expected))
    np.testing.assert_allclose(times[:n], expected[:n], rtol=1e-9, atol=1e-6)


def test_probability_flow_departs_at_whole_seconds_with_that_rate():
    times = flow_departures(10.0, 20010.0, None, None, 0.25, None, np.random.default_rng(3))
    assert np.all(times == np.floor(times)) and times.min() >= 10 and times.max() < 20010
    assert abs(len(times) / 20000 - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 20000)
    again = flow_departures(10.0, 20010.0, None, None, 0.25, None, np.random.default_rng(3))
    assert np.array_equal(times, again)


def test_trips_take_the_fastest_route_of_an_independent_search(tmp_path):
    graph = grid(3)
    for k, (u, v) in enumerate(graph.edges):  # uneven speeds, so the fastest is not the shortest
        graph.edges[u, v]["speed"] = 8.0 + (7 * k) % 11
    net = compile_network(graph)
    line = nx.DiGraph()
    for a, b in zip(*np.nonzero(net.conn_turn >= 0)):
        line.add_edge(int(a), int(b), weight=net.link_length[b] / net.link_speed[b])
    ins = [k for k in net.source_links]
    outs = [k for k in range(net.num_links) if not np.any(net.conn_turn[k] >= 0)]
    trips = [(a, b) for a in ins for b in outs if net.link_nodes[a, 0] != net.link_nodes[b, 1]]
    lines = ["<routes>"]
    for k, (a, b) in enumerate(trips):
        lines.append(
            f'<trip id="t{k}" depart="0" from="{net.link_names[a]}" to="{net.link_names[b]}"/>'
        )
    demand = read_routes(_write(tmp_path, "trips.rou.xml", "\n".join([*lines, "</routes>"])), net)
    time = net.link_length / net.link_speed
    for k, (a, b) in enumerate(trips):
        route = demand.route(demand.ids.index(f"t{k}"))
        assert route[0] == a and route[-1] == b
        assert all(net.conn_turn[x, y] >= 0 for x, y in zip(route[:-1], route[1:]))
        best = nx.shortest_path_length(line, a, b, weight="weight")
        assert time[route[1:]].sum() == pytest.approx(best)


def test_env_departs_each_vehicle_at_the_first_step_after_its_time(tmp_path):
    """Flows 13 s apart on each approach (no queue at the entry): every vehicle enters at
    the first whole step at or after its departure time, computed here from the flows."""
    flows = {"W2C": (0.4, 13.0), "E2C": (2.0, 13.0), "S2C": (5.5, 17.0), "N2C": (7.25, 19.5)}
    exits = {"W2C": "C2E", "E2C": "C2W", "S2C": "C2N", "N2C": "C2S"}
    lines = ["<routes>"]
    for edge, (begin, period) in flows.items():
        lines.append(
            f'<flow id="{edge}" begin="{begin}" end="100" period="{period}" '
            f'from="{edge}" to="{exits[edge]}"/>'
        )
    path = _write(tmp_path, "flows.rou.xml", "\n".join([*lines, "</routes>"]))
    env = make("traffic", network=CROSS, routes=path, num_controlled=0, max_steps=240, seed=0)
    for _ in range(240):
        env.step({})
    expected = {}
    for edge, (begin, period) in flows.items():
        t, k = begin, 0
        while t < 100:
            expected[f"{edge}.{k}"] = math.ceil(t)  # steps of 1 s
            t, k = t + period, k + 1
    assert sorted(env.demand.ids) == sorted(expected)
    assert [env.departed[k] for k in range(env.demand.num_vehicles)] == [
        expected[v] for v in env.demand.ids
    ]
    metrics = env.metrics()
    assert metrics["arrived"] == len(expected) and metrics["crashed"] == 0


def test_vehicles_follow_their_routes(tmp_path, cross):
    text = '<routes><vehicle id="a" depart="0"><route edges="W2C C2N"/></vehicle></routes>'
    env = make(
        "traffic",
        network=CROSS,
        routes=_write(tmp_path, "one.rou.xml", text),
        num_controlled=0,
        max_steps=60,
        seed=1,
    )
    seen = []
    for _ in range(60):
        slots, _, _ = env.world_positions()
        seen += [env.net.link_names[env.net.lane_link[env.ints[1, i]]] for i in slots]
        env.step({})
    assert list(dict.fromkeys(seen)) == ["W2C", "C2N"]
    assert env.metrics()["arrived"] == 1


@pytest.mark.parametrize(
    "text, problem",
    [
        ('<vehicle id="a" depart="0"><route edges="W2C Q"/></vehicle>', "<vehicle id='a'>.*'Q'"),
        ('<vehicle id="a" depart="0"><route edges="W2C C2W"/></vehicle>', "'a'.*lead to"),
        ('<vehicle id="a" depart="soon" route="r"/>', "'a'.*depart"),
        ('<vehicle id="a" depart="1" route="r"/>', "'a'.*route 'r'"),
        ('<trip id="b" depart="1" from="W2C"/>', "<trip id='b'>.*'to'"),
        ('<flow id="c" begin="0" end="9" period="1" probability="0.1" from="W2C" to="C2E"/>', "c"),
        ('<flow id="c" begin="9" end="0" period="1" from="W2C" to="C2E"/>', "before"),
        ('<flow id="c" begin="0" number="3" from="W2C" to="C2E"/>', "'end'"),
        ('<flow id="c" end="9" period="1e-30" from="W2C" to="C2E"/>', "expands"),
        ('<person id="p" depart="0"/>', "<person"),
        ('<trip id="a" depart="0" from="W2C" to="C2E"/><trip id="a" depart="0" from="W2C" '
         'to="C2E"/>', "twice"),
    ],
)  # fmt: skip
def test_bad_elements_name_the_file_and_element(tmp_path, cross, text, problem):
    path = _write(tmp_path, "bad.rou.xml", f"<routes>{text}</routes>")
    with pytest.raises(ValueError, match=rf"bad\.rou\.xml.*{problem}"):
        read_routes(path, cross)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "<routes>",
        "<net/>",
        '<!DOCTYPE routes [<!ENTITY e "W2C">]><routes><trip id="a" depart="0" from="&e;" '
        'to="C2E"/></routes>',
    ],
)
def test_malformed_files_and_entities_name_the_file(tmp_path, cross, text):
    with pytest.raises(ValueError, match=r"bad\.rou\.xml"):
        read_routes(_write(tmp_path, "bad.rou.xml", text), cross)


BYTES = HAND_WRITTEN.encode()


@SETTINGS
@given(start=st.integers(0, len(BYTES) - 1), junk=st.binary(min_size=1, max_size=6))
def test_corrupted_route_file_reads_or_names_the_file(tmp_path, cross, start, junk):
    path = tmp_path / "junk.rou.xml"
    path.write_bytes(BYTES[:start] + junk + BYTES[start + len(junk) :])
    try:
        demand = read_routes(str(path), cross)
    except ValueError as err:
        assert "junk.rou.xml" in str(err)
    else:
        assert np.all(np.diff(demand.depart) >= 0)
        assert all(
            cross.conn_turn[a, b] >= 0
            for k in range(demand.num_vehicles)
            for a, b in zip(demand.route(k)[:-1], demand.route(k)[1:])
        )


def test_a_demand_for_another_network_is_refused(tmp_path, cross):
    demand = read_routes(_write(tmp_path, "hand.rou.xml", HAND_WRITTEN), cross)
    with pytest.raises(ValueError, match="routes"):
        make("traffic", scenario="intersection", routes=demand, num_controlled=0)
    broken = demand._replace(route_links=demand.route_links[::-1].copy())
    with pytest.raises(ValueError, match="route this network lacks"):
        make("traffic", network=CROSS, routes=broken, num_controlled=0)
