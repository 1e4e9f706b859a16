import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make
from metagame.envs.preference import bradley_terry, cyclic_panel


def test_api_and_seed():
    parallel_api_test(make("preference", P=cyclic_panel(5), rounds=4), num_cycles=200)
    parallel_seed_test(lambda: make("preference", rounds=3), num_cycles=200)


def test_rewards_follow_P():
    P = bradley_terry([0.0, 1.0, -1.0])
    env = make("preference", P=P, stochastic=True, rounds=4000)
    env.reset(seed=0)
    total = 0.0
    for _ in range(4000):
        _, r, *_ = env.step({"player_0": 1, "player_1": 0})
        assert r["player_0"] == -r["player_1"] and abs(r["player_0"]) == 1
        total += r["player_0"]
    assert abs(total / 4000 - (2 * P[1, 0] - 1)) < 0.05
    exact = make("preference", P=P, stochastic=False)
    exact.reset(seed=0)
    _, r, term, *_ = exact.step({"player_0": 1, "player_1": 2})
    assert r["player_0"] == pytest.approx(2 * P[1, 2] - 1) and all(term.values())


def test_tabular_export_and_observation():
    env = make("preference", rounds=2)
    t = env.tabular()
    np.testing.assert_allclose(t["A"], cyclic_panel(3) - 0.5)
    np.testing.assert_allclose(t["A"], -t["A"].T)
    np.testing.assert_allclose(t["rewards"], 2 * t["A"])
    env.reset(seed=1)
    obs, *_ = env.step({"player_0": 2, "player_1": 0})
    np.testing.assert_array_equal(obs["player_0"], [0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(obs["player_1"], [1, 0, 0, 0, 0, 1])


def test_render_pixels():
    env = make("preference", render_mode="rgb_array")
    env.reset(seed=0)
    env.step({"player_0": 0, "player_1": 1})  # 0 beats 1: orange cell at row 0, column 1
    frame = env.render()
    assert frame.shape[2] == 3 and frame.dtype == np.uint8
    from metagame.envs.preference.render import CELL, MARGIN, heat_color

    y, x = MARGIN + CELL // 2 + 10, MARGIN + CELL + CELL // 2 + 10  # off the cell label
    assert tuple(frame[y, x]) == heat_color(0.5)
    y2, x2 = MARGIN + CELL + CELL // 2 + 10, MARGIN + CELL // 2 + 10  # row 1, column 0: blue
    assert tuple(frame[y2, x2]) == heat_color(-0.5)
    assert heat_color(0.5) == (213, 94, 0) and heat_color(0.0) == (255, 255, 255)


def test_bad_arguments():
    with pytest.raises(ValueError, match="diagonal"):
        make("preference", P=np.ones((3, 3)))
    with pytest.raises(ValueError, match="rounds"):
        make("preference", rounds=0)
    with pytest.raises(ValueError, match="stochastic"):
        make("preference", stochastic="yes")
    env = make("preference")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="player_1"):
        env.step({"player_0": 0})
