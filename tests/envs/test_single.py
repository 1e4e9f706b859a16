"""Gymnasium tasks as one-player PettingZoo games."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("task", ["CartPole-v1", "Pendulum-v1"])
def test_gym_tasks_pass_pettingzoo_parallel_api_and_seed_tests(task):
    env = make(f"gym:{task}")
    assert env.possible_agents == ["player_0"]
    parallel_api_test(env, num_cycles=300)
    parallel_seed_test(lambda: make(f"gym:{task}"))


def test_one_player_episode_matches_the_gymnasium_env_step_for_step():
    import gymnasium

    env = make("gym:CartPole-v1")
    reference = gymnasium.make("CartPole-v1")
    obs, _ = env.reset(seed=7)
    ref_obs, _ = reference.reset(seed=7)
    np.testing.assert_array_equal(obs["player_0"], ref_obs)
    total = 0.0
    while env.agents:
        obs, rew, term, trunc, _ = env.step({"player_0": 1})
        ref_obs, ref_rew, ref_term, ref_trunc, _ = reference.step(1)
        np.testing.assert_array_equal(obs["player_0"], ref_obs)
        assert (rew["player_0"], term["player_0"], trunc["player_0"]) == (
            ref_rew,
            ref_term,
            ref_trunc,
        )
        total += rew["player_0"]
    assert 5 <= total < 100  # always pushing right topples the pole early
    assert env.agents == []


def test_continuous_actions_and_gym_kwargs_pass_through():
    env = make("gym:Pendulum-v1", max_episode_steps=5)
    env.reset(seed=0)
    steps = 0
    while env.agents:
        env.step({"player_0": [0.5]})
        steps += 1
    assert steps == 5


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("gym:CartPol-v1", {}, "CartPole-v1"),
        ("gym:CartPole-v1", {"gravity_typo": 3}, "gravity_typo"),
        ("gym:", {}, "names no game"),
        ("gym:CartPole-v1", {"max_episode_steps": -5}, "'max_episode_steps' must be a positive"),
        ("gym:CartPole-v1", {"max_episode_steps": 0}, "'max_episode_steps' must be a positive"),
        ("gym:CartPole-v1", {"max_episode_steps": 2.5}, "'max_episode_steps' must be int"),
        ("gym:CartPole-v1", {"max_episode_steps": True}, "'max_episode_steps' must be int"),
        ("gym:CartPole-v1", {"render_mode": "bogus"}, "'render_mode' must be None or one of"),
        ("gym:CartPole-v1", {"render_mode": 3}, "'render_mode' must be str"),
        ("gym:CartPole-v1", {"disable_env_checker": "no"}, "'disable_env_checker' must be bool"),
        ("gym:GymV21Environment-v0", {}, "shimmy"),  # a missing optional dependency
    ],
)
def test_bad_gym_requests_raise_value_errors(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(name, **kwargs)


def test_rgb_array_render_passes_through():
    env = make("gym:CartPole-v1", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
