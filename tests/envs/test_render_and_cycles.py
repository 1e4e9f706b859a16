"""PettingZoo's render_test on the preference family (human windows included, under the dummy
SDL driver) and its max_cycles_test on pursuit-evasion."""

import functools
import types

import numpy as np
import pytest
from pettingzoo.test import max_cycles_test, render_test
from pettingzoo.utils.conversions import parallel_to_aec

from metagame.envs import make
from metagame.envs.markov import pursuit


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("trajectory_preference", {"max_steps": 3}),
        ("llm_duel", {"max_tokens": 3}),
        ("preference", {"rounds": 4}),
    ],
)
def test_render_test_in_every_mode(name, kwargs):
    def env_fn(render_mode=None):
        return parallel_to_aec(make(name, render_mode=render_mode, **kwargs))

    assert "human" in make(name).metadata["render_modes"]
    render_test(env_fn)


def test_human_window_shows_the_frame():
    """With render_mode="human" each step shows the rgb_array frame in a pygame window."""
    import pygame

    shown = make("llm_duel", max_tokens=2, render_mode="human")
    drawn = make("llm_duel", max_tokens=2, render_mode="rgb_array")
    for env in (shown, drawn):
        env.reset(seed=3)
        env.step({a: 1 for a in env.agents})
    assert shown.render() is None
    frame = drawn.render()
    window = pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)
    np.testing.assert_array_equal(window, frame)
    shown.close()
    assert not pygame.display.get_init()


def test_max_cycles_test_on_pursuit_evasion():
    """On a cycle every action is legal, so PettingZoo's unmasked sampling is valid; start the
    evader far enough that no capture ends the episode before max_cycles."""
    place = {"graph": "cycle:30", "pursuer_starts": [0], "evader_start": 15}
    max_cycles_test(
        types.SimpleNamespace(
            parallel_env=functools.partial(pursuit.parallel_env, **place),
            env=functools.partial(pursuit.env, **place),
        )
    )
    assert pursuit.parallel_env(max_cycles=7).max_steps == 7
