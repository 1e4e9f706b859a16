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
    ],
)
def test_parse_errors(text, message):
    with pytest.raises(ValueError, match=message):
        maps.parse_map(text)


def test_bundled_map_and_scenario_axes():
    grid = maps.load_map("random-32-32-10")
    assert grid.shape == (32, 32)
    assert grid.sum() == 102  # '@' count in the file
    name, starts, goals = maps.load_scenario("random-32-32-10-random-1", 3)
    assert name == "random-32-32-10"
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
