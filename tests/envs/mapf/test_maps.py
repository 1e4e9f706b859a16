"""Moving AI parsing, scenarios, generators and graph topologies."""

import networkx as nx
import numpy as np
import pytest

from metagame.envs.mapf import maps


def test_parse_terrain_and_shape():
    text = "type octile\nheight 2\nwidth 4\nmap\n.@TG\nSWO.\n"
    grid = maps.parse_map(text)
    assert grid.tolist() == [[False, True, True, False], [False, True, True, False]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("type octile\nheight 2\nwidth 2\nmap\n..\n", "rows"),
        ("type octile\nwidth 2\nmap\n..\n..\n", "height"),
        ("type octile\nheight 1\nwidth 2\nmap\n.x\n", "terrain"),
        ("type octile\nheight 1\nwidth 2\nmap\n@@\n", "blocked"),
        ("type octile\nheight abc\nwidth 2\nmap\n..\n", "line 2: height must be a positive"),
        ("type octile\nheight 1\nwidth -2\nmap\n..\n", "line 3: width must be a positive"),
        ("type octile\nheight 1\nwidth ²\nmap\n..\n", "line 3: width must be a positive"),
        ("type octile\nheight 2\nwidth 2\n..\n..\n", "no 'map' line"),
        ("type octile\nheight 2\nwidth 3\nmap\n...\n..\n", "line 6: expected 2 rows of 3"),
        ("type octile\nheight 2\nwidth 2\nmap\n..\n.\x00\n", "line 6: not text"),
        ("type octile\nheight 2\nwidth 2\nmap\n..\n.x\n", "line 6: unknown terrain 'x'"),
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        maps.parse_map(text)


def test_bundled_map_and_scenario_axes():
    grid = maps.load_map("random-32-32-10")
    assert grid.shape == (32, 32)
    assert grid.sum() == 102  # '@' count in the file
    path, starts, goals = maps.load_scenario("random-32-32-10-random-1", 3)
    assert path == str(maps.DATA_DIR / "random-32-32-10.map")
    # first row: start x=11 y=6, goal x=7 y=18 -> (row, col) = (6, 11), (18, 7)
    assert starts[0].tolist() == [6, 11] and goals[0].tolist() == [18, 7]
    assert not grid[starts[:, 0], starts[:, 1]].any()
    topo = maps.grid_topology(grid)
    # Manhattan distance is a lower bound of the BFS distance, equal on open ground.
    d = topo.distances(int(topo.index[6, 11]))[topo.index[18, 7]]
    assert d >= 12 + 4


def test_unknown_map_names_bundled():
    with pytest.raises(ValueError, match="random-32-32-10"):
        maps.load_map("no-such-map")


def test_bfs_matches_networkx():
    grid = maps.random_map(12, 15, 0.3, seed=3)
    topo = maps.grid_topology(grid)
    graph = nx.grid_2d_graph(*grid.shape)
    graph.remove_nodes_from(map(tuple, np.argwhere(grid)))
    src = tuple(topo.cells[0])
    expected = nx.single_source_shortest_path_length(graph, src)
    d = topo.distances(0)
    for node, length in expected.items():
        assert d[topo.index[node]] == length
    assert (d < maps.UNREACHABLE).sum() == len(expected)


@pytest.mark.parametrize(
    "grid",
    [
        maps.random_map(20, 20, 0.35, seed=0),
        maps.maze_map(15, 21, seed=1),
        maps.warehouse_map(3, 3, 5),
        maps.rooms_map(3, 5, seed=2),
    ],
)
def test_generators_connected(grid):
    topo = maps.grid_topology(grid)
    assert topo.component.max() == 0
    assert topo.num_vertices > 0.3 * grid.size


def test_general_graph_topology():
    graph = nx.cycle_graph(5)
    graph.add_edge(0, 2)
    topo = maps.graph_topology(graph)
    assert topo.num_actions == 1 + 3  # node 0 and 2 have degree 3
    assert topo.moves[0, 1:].tolist() == [1, 2, 4]
    grid_graph = nx.grid_2d_graph(3, 4)
    grid_graph.remove_edge((0, 0), (0, 1))
    topo = maps.graph_topology(grid_graph)
    assert topo.num_actions == 5
    v = topo.index[0, 0]
    assert topo.moves[v, 4] == -1 and topo.cells[topo.moves[v, 2]].tolist() == [1, 0]
    with pytest.raises(ValueError, match="directed"):
        maps.graph_topology(nx.DiGraph([(0, 1)]))


def test_generators_are_seeded_and_check_sizes():
    assert (maps.random_map(10, 10, 0.3, seed=5) == maps.random_map(10, 10, 0.3, seed=5)).all()
    assert (maps.maze_map(9, 9, seed=5) == maps.maze_map(9, 9, seed=5)).all()
    with pytest.raises(ValueError, match="density"):
        maps.random_map(4, 4, 1.0)
    with pytest.raises(ValueError, match="size"):
        maps.maze_map(0, 4)


SCEN = maps.DATA_DIR / "random-32-32-10-random-1.scen"
MAP = maps.DATA_DIR / "random-32-32-10.map"


def test_a_scenario_finds_its_map_beside_it_or_names_both_paths(tmp_path):
    from metagame.envs import make

    scen = tmp_path / "mine.scen"
    scen.write_bytes(SCEN.read_bytes())
    with pytest.raises(ValueError) as err:
        maps.load_scenario(str(scen), 3)
    assert f"{scen}, line 2" in str(err.value) and str(tmp_path / MAP.name) in str(err.value)
    (tmp_path / MAP.name).write_text(MAP.read_text().replace("@", ".", 1))  # a different map
    path, starts, goals = maps.load_scenario(str(scen), 3)
    assert path == str(tmp_path / MAP.name)
    np.testing.assert_array_equal(starts, maps.load_scenario(SCEN.stem, 3)[1])
    env = make("mapf", scenario=str(scen), num_agents=3)
    assert env.grid.sum() == maps.load_map(str(MAP)).sum() - 1  # the map beside it was used
    np.testing.assert_array_equal(env.goals, goals)


def _scenario(tmp_path, body: bytes):
    (tmp_path / MAP.name).write_bytes(MAP.read_bytes())
    scen = tmp_path / "s.scen"
    scen.write_bytes(body)
    return str(scen)


ROW = b"3\trandom-32-32-10.map\t32\t32\t11\t6\t7\t18\t13.65685425\n"


@pytest.mark.parametrize(
    "body, message",
    [
        (b"version 1\n" + ROW + b"\x00\x01\x02\xff\n", r"s.scen, line 3: not text"),
        (b"version 1\n" + ROW + b"\xff\xfe\n", r"s.scen, line 3: not text \(byte 0xff\)"),
        (b"version 1\n" + ROW.replace(b"\t11\t", b"\televen\t"), "line 2: start_x must be an"),
        (b"version 1\n" + ROW.replace(b"\t18\t", b"\t1.5\t"), "line 2: goal_y must be an"),
        (b"version 1\n" + ROW.replace(b"13.65685425", b"long"), "line 2: optimal_length"),
        (b"version 1\n" + ROW.replace(b"\t32\t32", b""), "line 2: expected 9 fields"),
        (b"version 1\n" + ROW.replace(b"\t11\t", b"\t32\t"), "line 2: a start or goal lies"),
        (b"version 1\n" + ROW.replace(b"\t7\t", b"\t-1\t"), "line 2: a start or goal lies"),
        (b"version 1\n" + ROW.replace(b"\t32\t32", b"\t33\t32"), "line 2: map size 33x32"),
        (b"version 1\n" + ROW.replace(b"\t11\t6\t", b"\t7\t0\t"), "line 2: .* is blocked in"),
        (b"version 1\n" + ROW + ROW.replace(b"-10.map", b"-20.map"), "line 3: names map"),
        (b"version 1\n\n", "no scenario rows"),
    ],
)
def test_malformed_scenarios_name_the_file_and_line(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        maps.load_scenario(_scenario(tmp_path, body))


def test_binary_and_malformed_map_files_name_the_file_and_line(tmp_path):
    path = tmp_path / "b.map"
    path.write_bytes(b"type octile\nheight 1\nwidth 2\nmap\n\x89PNG\r\n")
    with pytest.raises(ValueError, match=r"b.map, line 5: not text \(byte 0x89\)"):
        maps.load_map(str(path))
    path.write_bytes(b"type octile\r\nheight 1\r\nwidth 2\r\nmap\r\n.@\r\n")
    assert maps.load_map(str(path)).tolist() == [[False, True]]
    with pytest.raises(ValueError, match="num_agents must be positive"):
        maps.load_scenario(SCEN.stem, 0)
