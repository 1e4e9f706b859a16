"""Lazy goal-distance tables against full BFS (maps.bfs_distances, an independent search)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.agents.planners.distances import DistanceTable
from metagame.envs.mapf import maps


@settings(max_examples=40)
@given(st.integers(0, 2**16), st.floats(0.0, 0.5), st.integers(1, 80))
def test_lazy_distances_equal_bfs_in_any_query_order(seed, density, queries):
    rng = np.random.default_rng(seed)
    grid = maps.random_map(9, 11, density, seed=seed)
    grid[rng.random(grid.shape) < 0.05] = True  # may split the map: unreachable vertices too
    if grid.all():
        return
    topo = maps.grid_topology(grid)
    n = int(rng.integers(1, min(6, topo.num_vertices) + 1))
    goals = rng.choice(topo.num_vertices, n, replace=False)
    table = DistanceTable(topo.moves, goals)
    expected = np.array([maps.bfs_distances(topo.moves, g) for g in goals])
    for _ in range(queries):
        i, v = int(rng.integers(n)), int(rng.integers(topo.num_vertices))
        assert table.get(i, v) == expected[i, v]
    config = rng.choice(topo.num_vertices, n, replace=False)
    assert table.at(config).tolist() == expected[np.arange(n), config].tolist()
    assert (table.full() == expected).all()


def test_lazy_table_searches_only_as_far_as_asked():
    grid = np.zeros((1, 50), dtype=bool)
    topo = maps.grid_topology(grid)
    table = DistanceTable(topo.moves, np.array([0]))
    assert table.get(0, 3) == 3
    assert int(table.tail[0]) <= 5  # the goal, cells 1..3 and at most one more labelled
    assert table.get(0, 49) == 49


@given(st.integers(0, 2**16))
def test_retarget_equals_a_fresh_search(seed):
    rng = np.random.default_rng(seed)
    topo = maps.grid_topology(maps.random_map(8, 8, 0.3, seed=seed))
    goals = rng.choice(topo.num_vertices, 3, replace=False)
    table = DistanceTable(topo.moves, goals)
    table.at(rng.choice(topo.num_vertices, 3))
    new_goal = int(rng.integers(topo.num_vertices))
    table.retarget(1, new_goal)
    goals[1] = new_goal
    expected = np.array([maps.bfs_distances(topo.moves, g) for g in goals])
    assert (table.full() == expected).all()
