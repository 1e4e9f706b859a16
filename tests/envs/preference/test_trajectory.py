import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make
from metagame.envs.preference.trajectory import Trajectory, prefer_panel, prefer_return


@pytest.mark.parametrize("preference", ["return", "panel"])
def test_api_and_seed(preference):
    parallel_api_test(make("trajectory_preference", preference=preference), num_cycles=200)
    parallel_seed_test(
        lambda: make("trajectory_preference", preference=preference, max_steps=30), num_cycles=200
    )


def test_longer_cartpole_episode_wins_and_waits():
    env = make("trajectory_preference", task="CartPole-v1")
    obs, _ = env.reset(seed=3)
    steps = 0
    while env.agents:
        # player_0 pushes one way (falls fast); player_1 balances by a simple controller
        pole = obs["player_1"]
        balance = int(pole[2] + 0.5 * pole[3] > 0)
        obs, r, term, _, info = env.step({"player_0": 0, "player_1": balance})
        steps += 1
    assert r == {"player_0": -1.0, "player_1": 1.0}
    assert len(env.trajectories[0].actions) < len(env.trajectories[1].actions) == steps


def test_same_seed_gives_both_players_the_same_start():
    env = make("trajectory_preference")
    obs, _ = env.reset(seed=11)
    np.testing.assert_array_equal(obs["player_0"], obs["player_1"])


def test_panel_is_intransitive():
    # criteria orders: return d > e > f, switches e > f > d, late reward f > d > e
    d = Trajectory(actions=[0, 1, 0], rewards=[1, 2])  # return 3, 2 switches, late 1
    e = Trajectory(actions=[0, 0], rewards=[1, 1])  # return 2, 0 switches, late 0
    f = Trajectory(actions=[0, 1], rewards=[-0.5, 1.5])  # return 1, 1 switch, late 2
    assert (prefer_panel(d, e), prefer_panel(e, f), prefer_panel(f, d)) == (1.0, 1.0, 1.0)
    assert (prefer_return(d, e), prefer_return(e, f), prefer_return(f, d)) == (1.0, 1.0, 0.0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown preference"):
        make("trajectory_preference", preference="longest")
    with pytest.raises(ValueError, match="unknown task"):
        make("trajectory_preference", task="NoSuchTask-v0")
    env = make("trajectory_preference", preference=lambda a, b: 2.0, max_steps=1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="probability"):
        env.step({"player_0": 0, "player_1": 0})


def test_render_lists_both_players():
    env = make("trajectory_preference", render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    env.step({"player_0": 0, "player_1": 1})
    after = env.render()
    assert before.dtype == np.uint8 and before.shape == after.shape
    assert not np.array_equal(before, after)  # the step counts changed
