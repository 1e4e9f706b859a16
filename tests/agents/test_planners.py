"""MAPF planners: exactness against brute force, completeness, the checker, the env policy."""

import heapq
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from metagame.agents import plan, play
from metagame.agents.planners import PlannerPolicy, PlanningFailed, check, sum_of_costs
from metagame.agents.planners.instance import make_instance
from metagame.agents.planners.pibt import pibt, pibt_step, pibt_step_reference
from metagame.agents.planners.scatter import no_scatter
from metagame.envs import make
from metagame.envs.mapf import maps


def brute_force_soc(grid, starts, goals):
    """Dijkstra over (cells, committed): an agent pays 1 per step until it commits to rest on
    its goal forever. Written on raw cells, independently of the planners."""
    h, w = grid.shape
    starts = tuple(map(tuple, starts))
    goals = tuple(map(tuple, goals))
    n = len(starts)

    def options(c):
        r, k = c
        for dr, dk in ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)):
            if 0 <= r + dr < h and 0 <= k + dk < w and not grid[r + dr, k + dk]:
                yield (r + dr, k + dk)

    start = (starts, (False,) * n)
    best = {start: 0}
    queue = [(0, start)]
    while queue:
        cost, (cells, done) = heapq.heappop(queue)
        if cost > best[(cells, done)]:
            continue
        if all(done):
            return cost
        per_agent = []
        for i in range(n):
            if done[i]:
                per_agent.append([(cells[i], True)])
                continue
            moves = [(c, False) for c in options(cells[i])]
            if cells[i] == goals[i]:
                moves.append((cells[i], True))
            per_agent.append(moves)
        for joint in itertools.product(*per_agent):
            nxt = tuple(c for c, _ in joint)
            if len(set(nxt)) < n:
                continue
            if any(
                nxt[i] == cells[j] and nxt[j] == cells[i] and i != j
                for i in range(n)
                for j in range(n)
                if nxt[i] != cells[i]
            ):
                continue
            state = (nxt, tuple(d for _, d in joint))
            step = sum(1 for i in range(n) if not done[i] and not joint[i][1])
            if cost + step < best.get(state, float("inf")):
                best[state] = cost + step
                heapq.heappush(queue, (cost + step, state))
    return None


@st.composite
def small_instances(draw, max_agents=3):
    h, w = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    grid = maps.random_map(h, w, 0.2, seed=seed)
    free = np.argwhere(~grid)
    n = draw(st.integers(1, min(max_agents, len(free))))
    starts = free[rng.choice(len(free), n, replace=False)]
    goals = free[rng.choice(len(free), n, replace=False)]
    return grid, starts, goals


@settings(max_examples=25)
@given(small_instances())
def test_cbs_and_joint_astar_are_optimal(instance):
    grid, starts, goals = instance
    expected = brute_force_soc(grid, starts, goals)
    assume(expected is not None)  # CBS does not terminate on unsolvable instances
    for method in ("cbs", "astar"):
        paths = plan(grid, starts, goals, method=method, time_limit=30)
        check(grid, starts, goals, paths)
        assert sum_of_costs(paths, goals) == expected, method


@settings(max_examples=25)
@given(small_instances())
def test_every_method_returns_checked_plans(instance):
    grid, starts, goals = instance
    assume(brute_force_soc(grid, starts, goals) is not None)
    for method in ("lacam", "pibt", "prioritized"):
        try:
            paths = plan(grid, starts, goals, method=method, time_limit=10)
        except PlanningFailed as err:
            assert method != "lacam", f"LaCAM is complete on solvable instances: {err}"
            continue
        check(grid, starts, goals, paths)


@given(st.integers(0, 2**16), st.integers(0, 3), st.booleans(), st.sampled_from([0.25, 0.4]))
def test_pibt_kernel_matches_reference(pibt_instance, step_agrees, seed, num_fixed, swap, density):
    """The Numba kernel on the lazy table equals the Python reference on full BFS distances."""
    rng = np.random.default_rng(seed)
    grid = maps.random_map(7, 8, density, seed=seed)
    topo, config, goals, inst, order = pibt_instance(rng, grid, 24)
    n = len(config)
    tiebreak = rng.random(topo.num_vertices)
    fixed = rng.choice(n, min(num_fixed, n), replace=False)
    where = np.array(
        [rng.choice(topo.moves[config[i]][topo.moves[config[i]] >= 0]) for i in fixed],
        dtype=np.int64,
    )
    rest = (tiebreak, fixed.astype(np.int64), where, swap, no_scatter(n))
    ok, nxt = step_agrees(pibt_step, pibt_step_reference, topo, inst, config, goals, order, rest)
    if ok:
        paths = topo.cells[np.stack([config, nxt])]
        check(grid, paths[0], paths[1], paths)


def test_lacam_and_pibt_solve_the_moving_ai_scenario():
    grid = maps.load_map("random-32-32-10")
    _, starts, goals = maps.load_scenario("random-32-32-10-random-1", 200)
    for method in ("lacam", "pibt"):
        paths = plan(grid, starts, goals, method=method, time_limit=60)
        check(grid, starts, goals, paths)
        assert paths.shape[1:] == (200, 2)


@pytest.mark.parametrize(
    "name, starts, goals",
    [
        ("tree", [[0, 1], [2, 1]], [[3, 2], [1, 2]]),
        ("tunnel", [[3, 0], [1, 3], [5, 0]], [[3, 0], [1, 0], [2, 0]]),
    ],
)
def test_lacam_completes_where_pibt_livelocks(name, starts, goals):
    grid = maps.load_map(name)
    inst = make_instance(maps.grid_topology(grid), starts, goals)
    with pytest.raises(PlanningFailed, match="livelock"):
        pibt(inst, swap=False)
    paths = plan(grid, starts, goals, method="lacam")
    check(grid, starts, goals, paths)


def test_swap_ends_the_livelock_of_plain_pibt():
    """400 agents on random-32-32-10: plain PIBT livelocks; with the swap operation it
    solves, and so does a two-agent corridor pass on the tree map."""
    grid = maps.load_map("random-32-32-10")
    topo = maps.grid_topology(grid)
    _, starts, goals = maps.load_scenario("random-32-32-10-random-1", 400)
    with pytest.raises(PlanningFailed, match="livelock"):
        pibt(make_instance(topo, starts, goals), swap=False)
    configs = pibt(make_instance(topo, starts, goals), swap=True)
    check(grid, starts, goals, topo.cells[configs])
    tree = maps.load_map("tree")
    starts, goals = [[0, 1], [2, 1]], [[3, 2], [1, 2]]
    paths = plan(tree, starts, goals, method="pibt")
    check(tree, starts, goals, paths)


def test_unsolvable_instance_is_reported():
    grid = np.zeros((1, 2), dtype=bool)
    with pytest.raises(PlanningFailed, match="no solution"):
        plan(grid, [[0, 0], [0, 1]], [[0, 1], [0, 0]], method="lacam")
    with pytest.raises(PlanningFailed, match="no solution"):
        plan(grid, [[0, 0], [0, 1]], [[0, 1], [0, 0]], method="astar")
    # A corridor in which the rear agent must overtake the front one.
    line = np.array([[False, False, True], [True, False, False]])
    assert brute_force_soc(line, [[1, 1], [1, 2]], [[0, 1], [0, 0]]) is None
    with pytest.raises(PlanningFailed, match="no solution exists"):
        plan(line, [[1, 1], [1, 2]], [[0, 1], [0, 0]], method="lacam")


def test_checker_catches_each_problem():
    grid = np.zeros((2, 3), dtype=bool)
    grid[1, 2] = True
    starts, goals = np.array([[0, 0], [0, 1]]), np.array([[0, 1], [0, 0]])
    swap = np.array([starts, goals])
    with pytest.raises(ValueError, match="swap"):
        check(grid, starts, goals, swap)
    with pytest.raises(ValueError, match="vertex"):
        check(
            grid, starts, [[0, 1], [0, 2]], np.array([starts, [[0, 1], [0, 1]], [[0, 1], [0, 2]]])
        )
    with pytest.raises(ValueError, match="jumps"):
        check(grid, [[0, 0]], [[0, 2]], np.array([[[0, 0]], [[0, 2]]]))
    with pytest.raises(ValueError, match="blocked"):
        check(grid, [[0, 2]], [[1, 2]], np.array([[[0, 2]], [[1, 2]]]))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "dijkstra"}, "unknown method"),
        ({"starts": [[0, 0], [0, 0]]}, "share a cell"),
        ({"time_limit": 0}, "time_limit"),
        ({"method": "pibt", "anytime": 1.0}, "only method 'lacam'"),
        ({"anytime": 0}, "anytime must be positive"),
    ],
)
def test_plan_bad_input(kwargs, message):
    args = {
        "grid": np.zeros((3, 3), dtype=bool),
        "starts": [[0, 0], [2, 2]],
        "goals": [[2, 2], [0, 0]],
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        plan(**args)


@pytest.mark.parametrize("method", ["lacam", "pibt", "prioritized"])
@pytest.mark.parametrize("mode", ["stay", "finish"])
def test_policy_solves_one_shot_episodes(method, mode):
    env = make("mapf", map="random-32-32-10", num_agents=30, on_target=mode, max_steps=300)
    env.reset(seed=3)
    policy = PlannerPolicy(method)
    infos = {}
    while env.agents:
        _, _, _, _, infos = env.step(policy.actions(env))
    metrics = next(iter(infos.values()))["metrics"]
    assert metrics["CSR"] == 1.0


@pytest.mark.parametrize("method", ["lacam", "pibt"])
def test_policy_replans_in_lifelong_mode(method):
    env = make("mapf", map="room-32-32-4", num_agents=16, on_target="restart", max_steps=100)
    env.reset(seed=0)
    policy = PlannerPolicy(method)
    while env.agents:
        env.step(policy.actions(env))
    assert env.metrics()["throughput"] > 0.1


@pytest.mark.parametrize("method", ["pibt", "lacam"])
def test_play_drives_mapf_with_a_planner_policy(method):
    """``play`` seats a PlannerPolicy like any policy: every episode ends with all agents on
    their goals (one-shot) well before the step limit, and replays re-simulate exactly."""
    kwargs = {"map": "random-32-32-10", "num_agents": 40, "on_target": "stay", "max_steps": 300}
    results = play("mapf", [PlannerPolicy(method)], episodes=2, seed=5, env_kwargs=kwargs)
    assert (results.lengths < 300).all()
    assert (results.returns >= 1.0).all()  # goal_reward reached by every agent


def test_planner_policy_act_and_act_batch():
    env = make("mapf", map="random-32-32-10", num_agents=6, on_target="finish", max_steps=200)
    obs, _ = env.reset(seed=1)
    policy = PlannerPolicy("pibt")
    with pytest.raises(ValueError, match="bind"):
        policy.act_batch(list(obs.values()))
    policy.bind(env)
    with pytest.raises(ValueError, match="all 6 live agents"):
        policy.act_batch(list(obs.values())[:3])
    with pytest.raises(ValueError, match="single live agent"):
        policy.act(next(iter(obs.values())))
    while len(env.agents) > 1:
        batch = policy.act_batch([obs[a] for a in env.agents])
        assert batch.tolist() == policy.act_batch([obs[a] for a in env.agents]).tolist()
        obs, *_ = env.step(dict(zip(env.agents, batch.tolist())))
    while env.agents:
        obs, *_ = env.step({env.agents[0]: policy.act(obs[env.agents[0]])})
    assert env.metrics()["CSR"] == 1.0


def test_time_limit_counts_solving_not_compiling(tmp_path):
    """With an empty Numba cache, compiling the kernels takes seconds; a 1 s limit on an easy
    instance must still succeed because compilation happens before the clock starts."""
    script = (
        "import numpy as np\n"
        "from metagame.agents import plan\n"
        "grid = np.zeros((6, 6), dtype=bool)\n"
        "paths = plan(grid, [[0, 0], [5, 5]], [[5, 5], [0, 0]], method='pibt', time_limit=1)\n"
        "print(len(paths))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert int(out.stdout.strip()) >= 11
