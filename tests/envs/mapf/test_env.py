"""The MAPF environment: PettingZoo API, seeding, modes, metrics, rendering, errors."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make, rendering
from metagame.envs.mapf import maps, render

MODES = ["stay", "finish", "restart"]


@pytest.mark.parametrize("mode", MODES)
def test_parallel_api(mode):
    env = make("mapf", map="random-8-8-20", num_agents=6, on_target=mode, max_steps=40, seed=0)
    parallel_api_test(env, num_cycles=60)


@pytest.mark.parametrize("mode", MODES)
def test_parallel_seed(mode):
    parallel_seed_test(
        lambda: make("mapf", map="random-8-8-20", num_agents=6, on_target=mode, max_steps=30),
        num_cycles=60,
    )


def test_same_seed_same_trajectory():
    def run(seed):
        env = make("mapf", map="room-32-32-4", num_agents=20, on_target="restart", seed=seed)
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        trace = []
        for _ in range(30):
            env.step({a: int(rng.integers(5)) for a in env.agents})
            trace.append(env.positions.copy())
        return np.array(trace), env.goals

    a, b, c = run(1), run(1), run(2)
    assert (a[0] == b[0]).all() and (a[1] == b[1]).all()
    assert not (a[0] == c[0]).all()


@given(st.integers(0, 2**16), st.sampled_from(MODES), st.integers(2, 24))
def test_random_play_never_loses_or_stacks_agents(seed, mode, n):
    rng = np.random.default_rng(seed)
    grid = maps.random_map(8, 9, 0.25, seed=seed)
    env = make(
        "mapf", map=grid, num_agents=min(n, int((~grid).sum())), on_target=mode, max_steps=25
    )
    obs, _ = env.reset(seed=seed)
    while env.agents:
        before = env.positions
        actions = {a: int(rng.integers(5)) for a in env.agents}
        obs, *_ = env.step(actions)
        after, active = env.positions, env.active
        assert len(after) == env.max_num_agents
        assert not grid[after[:, 0], after[:, 1]].any()
        live = after[active]
        assert len(np.unique(live, axis=0)) == len(live)
        assert (np.abs(after - before).sum(axis=1) <= 1).all()
        moved = np.flatnonzero((after != before).any(axis=1))
        for i in moved:
            for j in moved:
                assert not ((after[i] == before[j]).all() and (after[j] == before[i]).all())
        state = env.state()
        assert state[1].sum() == active.sum()


def test_stay_mode_metrics_and_success():
    grid = np.zeros((1, 5), dtype=bool)
    env = make(
        "mapf",
        map=grid,
        num_agents=2,
        starts=np.array([[0, 0], [0, 4]]),
        goals=np.array([[0, 2], [0, 3]]),
        max_steps=10,
    )
    env.reset()
    # player_0 moves right twice; player_1 moves left once then waits.
    env.step({"player_0": 4, "player_1": 3})
    obs, rew, term, trunc, infos = env.step({"player_0": 4, "player_1": 0})
    assert all(term.values()) and not env.agents
    assert rew == {"player_0": 1.0, "player_1": 0.0}
    assert infos["player_0"]["metrics"] == {
        "CSR": 1.0,
        "ISR": 1.0,
        "makespan": 2,
        "sum_of_costs": 3,
        "steps": 2,
    }


def test_finish_mode_removes_agents(corridor):
    env = corridor([[0, 0], [0, 1]], [[0, 1], [0, 3]])
    env.reset()
    # player_1 leaves; player_0 follows into the cell it vacates.
    _, _, term, _, _ = env.step({"player_0": 4, "player_1": 4})
    assert term == {"player_0": True, "player_1": False}
    assert env.agents == ["player_1"]
    _, _, term, _, infos = env.step({"player_1": 4})
    assert term == {"player_1": True}
    assert infos["player_1"]["metrics"]["sum_of_costs"] == 1 + 2


def test_restart_with_goal_sequence_and_throughput():
    grid = np.zeros((1, 3), dtype=bool)
    seq = np.array([[[0, 1], [0, 2], [0, 0]]])
    env = make(
        "mapf",
        map=grid,
        num_agents=1,
        on_target="restart",
        max_steps=6,
        starts=np.array([[0, 0]]),
        goals=np.array([[0, 1]]),
        goal_sequence=seq,
    )
    env.reset()
    for action in [4, 4, 3, 3, 4, 4]:
        env.step({"player_0": action})
    m = env.metrics()
    assert m["goals_reached"] == 5 and m["throughput"] == pytest.approx(5 / 6)


def test_lifelong_goals_stay_in_component():
    grid = np.ones((5, 5), dtype=bool)
    grid[0, :] = False
    grid[4, :] = False  # two separate corridors
    env = make("mapf", map=grid, num_agents=4, on_target="restart", seed=0, max_steps=200)
    env.reset(seed=0)
    rows = env.positions[:, 0].copy()
    rng = np.random.default_rng(0)
    for _ in range(200):
        env.step({a: int(rng.integers(5)) for a in env.agents})
        assert (env.goals[:, 0] == rows).all()
    assert env.metrics()["goals_reached"] > 0


def test_observation_goal_projection_and_hint():
    grid = np.zeros((1, 10), dtype=bool)
    env = make(
        "mapf",
        map=grid,
        num_agents=1,
        obs_radius=2,
        starts=np.array([[0, 0]]),
        goals=np.array([[0, 9]]),
    )
    obs, _ = env.reset()
    o = obs["player_0"]["observation"]
    assert o.shape == (4, 5, 5)
    assert o[2, 2, 4] == 1 and o[2].sum() == 1  # goal clamped to the right edge
    assert o[3, 2, 3] == 1 and o[3].sum() == 1  # move right is the shortest way
    assert o[0, :2].all() and o[0, 2, :2].all() and not o[0, 2, 2:].any()
    assert obs["player_0"]["action_mask"].tolist() == [1, 0, 0, 0, 1]


def test_scenario_and_graph_maps():
    env = make("mapf", scenario="random-32-32-10-random-1", num_agents=10)
    env.reset()
    _, starts, goals = maps.load_scenario("random-32-32-10-random-1", 10)
    assert (env.positions == starts).all() and (env.goals == goals).all()
    graph = nx.petersen_graph()
    env = make("mapf", map=graph, num_agents=3, seed=0)
    obs, _ = env.reset(seed=0)
    assert env.action_space("player_0").n == 4
    for _ in range(10):
        env.step({a: 1 for a in env.agents})
    assert len({tuple(p) for p in env.positions}) == 3


def test_render_draws_agents_at_their_cells():
    env = make("mapf", map="empty-8-8", num_agents=3, seed=0, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    cell = frame.shape[1] // 8
    assert frame.shape[1] == 8 * cell and frame.shape[0] > 8 * cell and frame.dtype == np.uint8
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 3
    # under the map, a legend: the agent disc in the first agent's colour, an obstacle square
    strip = frame[8 * cell :]
    assert np.all(strip == rendering.WALL, axis=-1).sum() >= 16 * 16
    assert np.all(strip == rendering.agent_colors(1)[0], axis=-1).sum() > 100
    colors = rendering.agent_colors(3)
    for (r, c), color in zip(env.positions, colors):
        assert frame[r * cell + cell // 2, c * cell + cell // 2].tolist() == color.tolist()


@given(
    size=st.integers(2, 12),
    cell=st.sampled_from([0, 4, 5, 7, 13, 32]),
    seed=st.integers(0, 2**16),
)
def test_renderer_matches_pygame_reference(size, cell, seed):
    """The vectorised frame equals pygame's per-agent drawing pixel for pixel, with agents off
    the map and goals shared (as in lifelong mode, later agents' rings on top)."""
    rng = np.random.default_rng(seed)
    grid = rng.random((size, size + 1)) < 0.3
    free = np.argwhere(~grid)
    if len(free) == 0:
        return
    n = int(rng.integers(1, len(free) + 1))
    positions = free[rng.choice(len(free), n, replace=False)]
    goals = free[rng.integers(len(free), size=n)]
    active = rng.random(n) < 0.8
    frame = render.Renderer(grid, n, cell)(positions, goals, active)
    reference = render.draw_reference(grid, positions, goals, active, cell)
    assert frame.dtype == np.uint8 and frame.flags.c_contiguous
    np.testing.assert_array_equal(frame, reference)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_agents": 0}, "num_agents"),
        (
            {
                "num_agents": 2,
                "starts": np.array([[0, 0], [0, 0]]),
                "goals": np.array([[1, 1], [2, 2]]),
            },
            "share a start",
        ),
        ({"num_agents": 1, "starts": np.array([[0, 0]]), "goals": np.array([[0, 7]])}, "blocked"),
        ({"map": "nowhere"}, "bundled"),
        ({"on_target": "vanish"}, "on_target"),
        ({"num_agents": "3"}, "num_agents"),
        ({"goal_sequence": np.zeros((1, 1, 2), dtype=int)}, "restart"),
    ],
)
def test_bad_input(kwargs, message):
    kwargs = {"map": "random-8-8-20", **kwargs}
    with pytest.raises(ValueError, match=message):
        make("mapf", **kwargs)


def test_lifelong_new_goal_is_never_the_current_cell():
    grid = np.zeros((1, 2), dtype=bool)
    env = make(
        "mapf",
        map=grid,
        num_agents=1,
        on_target="restart",
        max_steps=50,
        seed=0,
        starts=np.array([[0, 0]]),
        goals=np.array([[0, 1]]),
    )
    env.reset(seed=0)
    for t in range(50):
        env.step({"player_0": 4 if t % 2 == 0 else 3})
        assert (env.goals != env.positions).any()
    assert env.metrics()["goals_reached"] == 50


@pytest.mark.parametrize("mode", MODES)
def test_array_api_matches_dict_api(mode):
    def build():
        env = make("mapf", map="maze-32-32-2", num_agents=12, on_target=mode, max_steps=40)
        env.reset(seed=4)
        return env

    a, b = build(), build()
    rng = np.random.default_rng(0)
    while a.agents:
        actions = rng.integers(0, 5, 12)
        live = [a.possible_agents.index(x) for x in a.agents]
        obs, rew, term, trunc, _ = a.step({a.possible_agents[i]: int(actions[i]) for i in live})
        obs2, mask2, rew2, term2, trunc2 = b.step_arrays(actions)
        assert (a.positions == b.positions).all() and a.agents == b.agents
        for i in live:
            name = a.possible_agents[i]
            assert (obs[name]["observation"] == obs2[i]).all()
            assert (obs[name]["action_mask"] == mask2[i]).all()
            assert rew[name] == rew2[i] and term[name] == term2[i] and trunc[name] == trunc2


@pytest.mark.parametrize("mode", MODES)
def test_rewards_with_step_cost(mode):
    """goal_reward for a step that ends on the goal from elsewhere, minus step_cost for every
    step that ends off it (goals read before the step: lifelong goals change on arrival)."""
    env = make(
        "mapf",
        map="empty-8-8",
        num_agents=6,
        on_target=mode,
        max_steps=60,
        goal_reward=2.0,
        step_cost=0.25,
    )
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    arrivals = 0
    while env.agents:
        before, goals = env.positions, env.goals
        agents = list(env.agents)
        _, rewards, *_ = env.step({a: int(rng.integers(5)) for a in agents})
        after = env.positions
        for a in agents:
            i = env.possible_agents.index(a)
            on_goal = (after[i] == goals[i]).all()
            arrived = on_goal and (before[i] != after[i]).any()
            arrivals += arrived
            assert rewards[a] == pytest.approx(2.0 * arrived - 0.25 * (not on_goal))
    assert arrivals > 0


def test_step_outputs_are_fresh_objects():
    """Per-step dicts (some copied from cached templates) and observation views are never
    shared with later steps: mutating one step's output changes nothing afterwards."""
    env = make("mapf", map="empty-8-8", num_agents=4, on_target="restart", max_steps=10)
    obs, _ = env.reset(seed=0)
    first = env.step(dict.fromkeys(env.agents, 0))
    kept = {a: o["observation"].copy() for a, o in first[0].items()}
    for out in first[1:4]:
        for a in out:
            out[a] = "mutated"
    first[4]["player_0"]["x"] = 1
    second = env.step(dict.fromkeys(env.agents, 0))
    for out in second[1:4]:
        assert "mutated" not in out.values()
    assert second[4]["player_0"] == {} and second[4]["player_1"] == {}
    assert all((first[0][a]["observation"] == kept[a]).all() for a in kept)
    assert all(second[0][a]["observation"] is not first[0][a]["observation"] for a in kept)
