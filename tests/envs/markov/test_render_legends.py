"""Markov-game frames carry a legend under the picture: every player's colour is in it."""

import numpy as np

from metagame.envs import make
from metagame.envs.markov.render import draw_matrix
from metagame.envs.rendering import agent_colors


def _has(strip, color, pixels=60):
    return np.all(strip == np.asarray(color, dtype=np.uint8), axis=-1).sum() >= pixels


def test_soccer_and_pursuit_legends_name_every_player_colour():
    soccer = make("soccer", render_mode="rgb_array")
    soccer.reset(seed=0)
    strip = soccer.render()[-58:]
    assert all(_has(strip, c) for c in agent_colors(2))
    pursuit = make("pursuit_evasion", graph="cycle:6", num_pursuers=2, render_mode="rgb_array")
    pursuit.reset(seed=0)
    strip = pursuit.render()[-32:]
    assert all(_has(strip, c) for c in agent_colors(3))  # two pursuers and the evader


def test_matrix_cells_never_show_negative_zero():
    zero_sum = np.array([[0.0, -1.0], [1.0, 0.0]])
    negated = -zero_sum  # holds -0.0 on the diagonal
    assert np.signbit(negated[0, 0])
    a = draw_matrix(zero_sum, negated, ["x", "y"], ["x", "y"], None)
    b = draw_matrix(zero_sum, np.array([[0.0, 1.0], [-1.0, 0.0]]), ["x", "y"], ["x", "y"], None)
    np.testing.assert_array_equal(a, b)


def test_pursuit_agents_stay_on_the_picture_at_the_capture():
    env = make("pursuit_evasion", graph="path:3", num_pursuers=1, render_mode="rgb_array",
               pursuer_starts=[0], evader_start=2)  # fmt: skip
    env.reset(seed=0)
    env.step({"pursuer_0": 1, "evader_0": 1})  # both move to the middle node: caught
    assert not env.agents
    picture = env.render()[:-32]
    assert all(_has(picture, c, pixels=20) for c in agent_colors(2)[:1])  # the pursuer is drawn
