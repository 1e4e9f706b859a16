"""MAPF with ``on_target="finish"`` when agents start on their goals, and reward parameters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.agents import plan
from metagame.envs import make

MOVES = {(0, 0): 0, (-1, 0): 1, (1, 0): 2, (0, -1): 3, (0, 1): 4}


def test_an_agent_starting_on_its_goal_has_left_at_reset(corridor):
    env = corridor([[0, 0], [0, 2]], [[0, 0], [0, 3]])
    obs, _ = env.reset()
    assert env.agents == list(obs) == ["player_1"]
    assert env.active.tolist() == [False, True]
    _, rewards, term, _, infos = env.step({"player_1": 4})
    assert term == {"player_1": True} and rewards == {"player_1": 1.0}
    assert not env.agents
    assert infos["player_1"]["metrics"] == {
        "CSR": 1.0,
        "ISR": 1.0,
        "makespan": 1,
        "sum_of_costs": 1,
        "steps": 1,
    }


def test_every_agent_starting_on_its_goal_ends_the_episode_at_step_zero():
    grid = np.zeros((2, 2), dtype=bool)
    cells = np.array([[0, 0], [1, 1]])
    env = make("mapf", map=grid, num_agents=2, on_target="finish", starts=cells, goals=cells)
    obs, _ = env.reset()
    assert obs == {} and env.agents == []
    assert env.metrics()["makespan"] == 0 and env.metrics()["CSR"] == 1.0


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 6),
    on_goal=st.lists(st.booleans(), min_size=6, max_size=6),
    seed=st.integers(0, 10_000),
)
def test_finish_episodes_last_exactly_their_makespan(n, on_goal, seed):
    """Following planned paths, a "finish" episode ends the step the last agent arrives, so its
    step count is its makespan, whichever agents start on their goals."""
    rng = np.random.default_rng(seed)
    grid = np.zeros((5, 5), dtype=bool)
    free = np.argwhere(~grid)
    starts = free[rng.choice(len(free), n, replace=False)]
    goals = free[rng.choice(len(free), n, replace=False)]
    goals[np.array(on_goal[:n])] = starts[np.array(on_goal[:n])]
    if len({tuple(g) for g in goals}) < n:  # two goals on one cell: not a MAPF instance
        return
    paths = plan(grid, starts, goals, method="pibt")
    env = make("mapf", map=grid, num_agents=n, on_target="finish", starts=starts, goals=goals)
    env.reset()
    t = 0
    while env.agents:
        here, there = paths[min(t, len(paths) - 1)], paths[min(t + 1, len(paths) - 1)]
        index = {a: i for i, a in enumerate(env.possible_agents)}
        actions = {a: MOVES[tuple(there[index[a]] - here[index[a]])] for a in env.agents}
        *_, infos = env.step(actions)
        t += 1
    first = [
        next(k for k in range(len(paths)) if (paths[k, i] == goals[i]).all()) for i in range(n)
    ]
    result = env.metrics()
    assert result["CSR"] == 1.0
    assert result["makespan"] == result["steps"] == t == max(first)


@pytest.mark.parametrize("name", ["goal_reward", "step_cost"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), "1"])
def test_reward_parameters_must_be_finite_numbers(name, value):
    with pytest.raises(ValueError, match=name):
        make("mapf", map="empty-8-8", num_agents=2, **{name: value})
