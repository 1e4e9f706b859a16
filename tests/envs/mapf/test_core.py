"""The Numba kernels against their NumPy references, and the conflict-rule invariants."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from metagame.envs.mapf import core, maps


@st.composite
def instances(draw):
    h, w = draw(st.integers(2, 9)), draw(st.integers(2, 9))
    density = draw(st.sampled_from([0.0, 0.1, 0.3]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    grid = rng.random((h, w)) < density
    if grid.all():
        grid[0, 0] = False
    topo = maps.grid_topology(grid)
    n = draw(st.integers(1, topo.num_vertices))
    pos = rng.choice(topo.num_vertices, n, replace=False)
    steps = [rng.integers(0, 5, n) for _ in range(draw(st.integers(1, 6)))]
    active = rng.random(n) < 0.9
    return topo, pos, steps, active


def check_invariants(topo, before, after, active):
    live = after[active]
    assert len(np.unique(live)) == len(live), "vertex conflict"
    for i in np.flatnonzero(active):
        assert after[i] in topo.moves[before[i]], "moved more than one edge"
        for j in np.flatnonzero(active):
            if i != j and after[i] == before[j] and after[j] == before[i] and after[i] != before[i]:
                raise AssertionError("swap conflict")
    assert (after[~active] == before[~active]).all()


@given(instances())
def test_step_matches_reference_and_is_conflict_free(instance):
    topo, pos, steps, active = instance
    for actions in steps:
        nxt = core.step(pos, actions, topo.moves, active)
        ref = core.step_reference(pos, actions, topo.moves, active)
        assert nxt.tolist() == ref.tolist()
        check_invariants(topo, pos, nxt, active)
        assert len(nxt) == len(pos)
        pos = nxt


def test_follow_chain_moves_together_and_stays_visible():
    grid = np.zeros((1, 6), dtype=bool)
    topo = maps.grid_topology(grid)
    pos = topo.index[0, [2, 1, 0]].astype(np.int64)  # leader at column 2, followers behind
    right = np.full(3, 4)
    active = np.ones(3, dtype=bool)
    nxt = core.step(pos, right, topo.moves, active)
    assert topo.cells[nxt, 1].tolist() == [3, 2, 1]
    goal = nxt.copy()
    dist = np.zeros((3, topo.num_vertices), dtype=np.int32)
    blocked = core.padded_obstacles(grid, 2)
    obs, _ = core.observe(nxt, goal, active, topo.cells, blocked, topo.moves, dist, 2)
    for i in range(3):
        assert obs[i, core.AGENTS].sum() == 2  # both others seen
    # The leader hits the wall at column 5 after two more steps: the whole chain waits.
    for _ in range(3):
        nxt = core.step(nxt, right, topo.moves, active)
    assert topo.cells[nxt, 1].tolist() == [5, 4, 3]


def test_swap_and_cycle():
    grid = np.zeros((2, 2), dtype=bool)
    topo = maps.grid_topology(grid)
    active = np.ones(2, dtype=bool)
    pos = topo.index[0, [0, 1]].astype(np.int64)
    assert core.step(pos, np.array([4, 3]), topo.moves, active).tolist() == pos.tolist()
    # Four agents rotating around the 2x2 block is allowed (no vertex or swap conflict).
    pos = topo.index[[0, 0, 1, 1], [0, 1, 1, 0]].astype(np.int64)
    nxt = core.step(pos, np.array([4, 2, 3, 1]), topo.moves, np.ones(4, dtype=bool))
    assert nxt.tolist() == np.roll(pos, -1).tolist()


@given(instances(), st.integers(0, 3))
def test_observe_matches_reference(instance, radius):
    topo, pos, _, active = instance
    rng = np.random.default_rng(len(pos))
    goal = rng.integers(0, topo.num_vertices, len(pos))
    dist = np.empty((len(pos), topo.num_vertices), dtype=np.int32)
    core.goal_distances(topo.moves, goal, dist, np.arange(len(pos)))
    blocked = core.padded_obstacles(topo.grid, radius)
    args = (pos, goal, active, topo.cells, blocked, topo.moves, dist, radius)
    obs, mask = core.observe(*args)
    ref_obs, ref_mask = core.observe_reference(*args)
    np.testing.assert_array_equal(obs, ref_obs)
    np.testing.assert_array_equal(mask, ref_mask)
    # Every other active agent inside the window is visible.
    for i in np.flatnonzero(active):
        delta = topo.cells[pos[active]] - topo.cells[pos[i]]
        inside = (np.abs(delta) <= radius).all(axis=1).sum() - 1
        assert obs[i, core.AGENTS].sum() == inside
