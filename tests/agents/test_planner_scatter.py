"""Scatter (space utilisation optimisation): valid bounded paths, an incremental collision count
equal to a brute-force recount, and a lookup that follows the paths."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.agents.planners import make_instance
from metagame.agents.planners.scatter import as_lookup, lookup, scatter_paths
from metagame.envs.mapf import maps


def recount(paths, lengths):
    """Collisions between the paths, pair by pair: sharing a vertex at a time, swapping, or
    standing on another agent's last vertex after it has parked there."""
    n = len(lengths)
    total = 0
    for i in range(n):
        for j in range(n):
            if i == j or not lengths[i] or not lengths[j]:
                continue
            p, q = paths[i, : lengths[i]], paths[j, : lengths[j]]
            for t in range(1, len(q)):
                if j > i and t < len(p):
                    total += p[t] == q[t]
                    total += p[t] != p[t - 1] and p[t] == q[t - 1] and p[t - 1] == q[t]
                total += t > len(p) - 1 and q[t] == p[-1]
    return int(total)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.integers(2, 30), st.integers(0, 4), st.integers(1, 4))
def test_scatter_paths_are_valid_and_counted_right(seed, n, margin, max_passes):
    rng = np.random.default_rng(seed)
    topo = maps.grid_topology(maps.random_map(8, 8, 0.2, seed=seed))
    n = min(n, topo.num_vertices)
    starts = rng.choice(topo.num_vertices, n, replace=False)
    goals = rng.choice(topo.num_vertices, n, replace=False)
    inst = make_instance(topo, topo.cells[starts], topo.cells[goals])
    paths, lengths, collisions = scatter_paths(inst, margin, seed=seed, max_passes=max_passes)
    full = np.array([maps.bfs_distances(topo.moves, g) for g in goals])
    for i in range(n):
        assert lengths[i] > 0  # the shortest path always fits the bound
        path = paths[i, : lengths[i]]
        assert path[0] == starts[i] and path[-1] == goals[i]
        assert len(path) - 1 <= full[i, starts[i]] + margin
        assert all(b in topo.moves[a, 1:] for a, b in zip(path[:-1], path[1:]))
        assert len(set(path.tolist())) == len(path)
    assert collisions == recount(paths, lengths)
    table = as_lookup(paths, lengths)
    for i in range(n):
        on_path = dict(zip(paths[i, : lengths[i] - 1].tolist(), paths[i, 1 : lengths[i]]))
        for v in range(topo.num_vertices):
            assert lookup(table, i, v) == on_path.get(v, -1)
