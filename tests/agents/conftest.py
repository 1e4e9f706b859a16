"""Shared set-ups of the planner tests: a random PIBT instance, and a PIBT-family step kernel
run beside its Python reference."""

import numpy as np
import pytest

from metagame.agents.planners.instance import make_instance
from metagame.envs.mapf import maps


def _pibt_instance(rng, grid, max_agents):
    """A random instance on ``grid``: 1 to ``max_agents - 1`` agents on distinct cells with
    distinct goals, and a random agent order. Returns (topology, configuration (vertex ids),
    goals (vertex ids), instance, order)."""
    topo = maps.grid_topology(grid)
    n = int(rng.integers(1, min(max_agents, topo.num_vertices)))
    config = rng.choice(topo.num_vertices, n, replace=False)
    goals = rng.choice(topo.num_vertices, n, replace=False)
    inst = make_instance(topo, topo.cells[config], topo.cells[goals])
    return topo, config, goals, inst, rng.permutation(n)


def _step_agrees(kernel, reference, topo, inst, config, goals, order, rest):
    """Runs ``kernel`` on the instance's lazy distance table and ``reference`` on full BFS
    distances from every goal, asserts they agree, and returns (solved, next configuration)."""
    ok, nxt = kernel(config, order, topo.moves, inst.goals, inst.distances.arrays, *rest)
    full = np.array([maps.bfs_distances(topo.moves, g) for g in goals])
    ok_ref, ref = reference(config, order, topo.moves, inst.goals, full, *rest)
    assert ok == ok_ref
    if ok:
        assert nxt.tolist() == ref.tolist()
    return ok, nxt


@pytest.fixture(scope="session")
def pibt_instance():
    """``draw(rng, grid, max_agents)``: see :func:`_pibt_instance`."""
    return _pibt_instance


@pytest.fixture(scope="session")
def step_agrees():
    """``compare(kernel, reference, topo, inst, config, goals, order, rest)``: see
    :func:`_step_agrees`."""
    return _step_agrees
