"""LaCAM3's pieces: the best-of-k configuration generator against its Python reference, and
LaCAM* (anytime) against a brute-force optimum of the cost it minimises."""

import heapq
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from metagame.agents.planners import check, make_instance, plan
from metagame.agents.planners.lacam import lacam
from metagame.agents.planners.pibt import best_step, best_step_reference
from metagame.agents.planners.scatter import no_scatter, scatter
from metagame.envs.mapf import maps


def sum_of_loss(paths, goals) -> int:
    """Agent-steps not spent resting on the goal (the cost LaCAM* minimises)."""
    paths, goals = np.asarray(paths), np.asarray(goals)
    resting = (paths[1:] == goals).all(axis=2) & (paths[:-1] == goals).all(axis=2)
    return int((~resting).sum())


def brute_force_loss(grid, starts, goals):
    """Dijkstra over joint cell configurations, written on raw cells; None if unsolvable."""
    h, w = grid.shape
    starts, goals = tuple(map(tuple, starts)), tuple(map(tuple, goals))

    def options(c):
        r, k = c
        for dr, dk in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < h and 0 <= k + dk < w and not grid[r + dr, k + dk]:
                yield (r + dr, k + dk)

    best, queue = {starts: 0}, [(0, starts)]
    while queue:
        cost, cells = heapq.heappop(queue)
        if cost > best[cells]:
            continue
        if cells == goals:
            return cost
        for nxt in itertools.product(*(list(options(c)) for c in cells)):
            if len(set(nxt)) < len(nxt):
                continue
            if any(
                nxt[i] == cells[j] and nxt[j] == cells[i] and nxt[i] != cells[i]
                for i in range(len(nxt))
                for j in range(i + 1, len(nxt))
            ):
                continue
            step = sum(not (c == g and n == g) for c, n, g in zip(cells, nxt, goals))
            if cost + step < best.get(nxt, float("inf")):
                best[nxt] = cost + step
                heapq.heappush(queue, (cost + step, nxt))
    return None


@settings(max_examples=30)
@given(st.integers(0, 2**16), st.integers(1, 4), st.sampled_from([0.2, 0.4]), st.booleans())
def test_best_step_matches_reference(pibt_instance, step_agrees, seed, runs, density, spread):
    rng = np.random.default_rng(seed)
    grid = maps.random_map(7, 8, density, seed=seed)
    topo, config, goals, inst, order = pibt_instance(rng, grid, 20)
    tiebreaks = rng.random((runs, topo.num_vertices))
    empty = np.zeros(0, dtype=np.int64)
    prefer = scatter(inst, margin=3, seed=seed) if spread else no_scatter(len(config))
    rest = (tiebreaks, empty, empty, True, prefer)
    step_agrees(best_step, best_step_reference, topo, inst, config, goals, order, rest)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**16), st.integers(2, 3))
def test_lacam_star_converges_to_the_optimal_loss(seed, n):
    rng = np.random.default_rng(seed)
    grid = maps.random_map(3, 3, 0.15, seed=seed)
    free = np.argwhere(~grid)
    assume(len(free) > n)
    starts = free[rng.choice(len(free), n, replace=False)]
    goals = free[rng.choice(len(free), n, replace=False)]
    optimum = brute_force_loss(grid, starts, goals)
    assume(optimum is not None)
    topo = maps.grid_topology(grid)
    first = topo.cells[lacam(make_instance(topo, starts, goals, seed=seed))]
    # the budget outlasts the search: it ends when no open node can improve the solution
    best = topo.cells[lacam(make_instance(topo, starts, goals, 600, seed=seed), anytime=600)]
    for paths in (first, best):
        check(grid, starts, goals, paths)
    assert sum_of_loss(best, goals) == optimum <= sum_of_loss(first, goals)


def test_anytime_never_worsens_the_first_solution():
    grid = maps.load_map("random-32-32-10")
    topo = maps.grid_topology(grid)
    _, starts, goals = maps.load_scenario("random-32-32-10-random-1", 100)
    first = topo.cells[lacam(make_instance(topo, starts, goals))]  # the same first search
    refined = plan(grid, starts, goals, method="lacam", anytime=1.0)
    check(grid, starts, goals, refined)
    assert sum_of_loss(refined, goals) <= sum_of_loss(first, goals)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lacam_star_on_a_packed_map_converges_too(seed):
    """Four agents on six cells: anytime refines the first search's own solution (the packed-map
    branch) and still reaches the brute-force optimum."""
    grid = np.zeros((2, 3), dtype=bool)
    rng = np.random.default_rng(seed)
    free = np.argwhere(~grid)
    starts, goals = free[rng.permutation(6)[:4]], free[rng.permutation(6)[:4]]
    optimum = brute_force_loss(grid, starts, goals)
    assert optimum is not None
    topo = maps.grid_topology(grid)
    paths = topo.cells[lacam(make_instance(topo, starts, goals, 600, seed=seed), anytime=600)]
    check(grid, starts, goals, paths)
    assert sum_of_loss(paths, goals) == optimum
