"""Traffic frames: signal heads show each controlled link's phase, lanes are marked, the legend
names every driver colour."""

import numpy as np

from metagame.envs import make
from metagame.envs.traffic.core import GREEN, RED
from metagame.envs.traffic.render import (
    CONTROLLED_COLOR,
    DRIVER_COLORS,
    LAMPS,
    LANE_LINE,
    TrafficRenderer,
)


def _count(frame, color):
    return int(np.all(frame == np.asarray(color, dtype=np.uint8), axis=-1).sum())


def test_signal_heads_light_the_current_phase():
    env = make("traffic", scenario="grid", grid_size=2, control_signals=True,
               num_vehicles=0, num_controlled=0, render_mode="rgb_array", seed=0)  # fmt: skip
    env.reset(seed=0)
    frame = env.render()
    renderer = TrafficRenderer(env)
    picture = frame[: renderer.map_height]
    lights = env.lights[env.signals.controlled_links]
    assert (lights == RED).any() and (lights == GREEN).any()
    assert _count(picture, LAMPS[RED]) > 0 and _count(picture, LAMPS[GREEN]) > 0
    assert _count(picture, LANE_LINE) > 0  # lane markings and edges


def test_legend_names_driver_and_controlled_colours():
    env = make("traffic", scenario="intersection", num_controlled=1, render_mode="rgb_array",
               seed=0)  # fmt: skip
    env.reset(seed=0)
    frame = env.render()
    legend = frame[TrafficRenderer(env).map_height :]
    for color in [*DRIVER_COLORS, CONTROLLED_COLOR]:
        assert _count(legend, color) >= 100


def test_human_mode_shows_each_step_in_a_window_closed_by_close():
    """The shared ``Rendered`` window: a human-mode step shows the frame rgb_array mode draws
    for the same episode, and ``close()`` closes the display."""
    import pygame

    kwargs = dict(scenario="intersection", num_controlled=1, seed=2)
    shown = make("traffic", render_mode="human", **kwargs)
    drawn = make("traffic", render_mode="rgb_array", **kwargs)
    for env in (shown, drawn):
        env.reset(seed=2)
        env.step({a: 0 for a in env.agents})
    window = pygame.surfarray.array3d(pygame.display.get_surface()).swapaxes(0, 1)
    np.testing.assert_array_equal(window, drawn.render())
    assert pygame.display.get_caption()[0] == "metagame traffic"
    shown.close()
    assert not pygame.display.get_init()
