"""Signal lights against a per-signal loop, and the driver mixes."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.envs.traffic import drivers
from metagame.envs.traffic.core import GREEN, RED, YELLOW
from metagame.envs.traffic.network import compile_network, grid
from metagame.envs.traffic.signals import Signals

NET = compile_network(grid(3))


def _lights_by_loop(signals: Signals) -> np.ndarray:
    light = np.full(signals.num_links, GREEN, dtype=np.int8)
    for groups in signals.phases:
        for group in groups:
            light[group] = RED
    for s, groups in enumerate(signals.phases):
        light[groups[signals.phase[s]]] = YELLOW if signals.yellow_left[s] > 0 else GREEN
    return light


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_lights_match_a_loop_over_signals(data):
    signals = Signals(NET.signal_phases, NET.num_links, 1.0, 5.0, 3.0, 20.0)
    n = len(signals)
    signals.phase[:] = data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    signals.yellow_left[:] = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    assert np.array_equal(signals.lights(), _lights_by_loop(signals))


def test_sumo_mix_is_sumos_default_car():
    kinds, params = drivers.sample_drivers(np.random.default_rng(0), 4000, "sumo")
    assert np.all(kinds == drivers.DRIVER_TYPES.index("passenger"))
    # the vType's parameters exactly, the speed factor as SUMO's normc(1, 0.1, 0.2, 2)
    fixed = [drivers.HEADWAY, drivers.ACCEL, drivers.DECEL, drivers.MIN_GAP, drivers.LENGTH]
    assert np.array_equal(params[:, fixed], np.tile([1.0, 2.6, 4.5, 2.5, 5.0], (4000, 1)))
    factor = params[:, drivers.V0]
    assert abs(factor.mean() - 1.0) < 0.01 and abs(factor.std() - 0.1) < 0.01
    assert 0.45 < np.mean(factor > 1.0) < 0.55


@given(deviation=st.floats(0.05, 3.0), seed=st.integers(0, 2**16))
def test_speed_factors_are_a_truncated_normal_drawn_again(deviation, seed):
    """Draws outside [0.2, 2] are drawn again (SUMO's normc), never clipped: no mass piles up
    on a bound, and the same seed gives the same factors."""
    factors = drivers.speed_factors(np.random.default_rng(seed), 2000, deviation)
    assert np.all((factors >= 0.2) & (factors <= 2.0))
    assert np.sum(np.isin(factors, drivers.SUMO_SPEED_FACTOR)) == 0
    again = drivers.speed_factors(np.random.default_rng(seed), 2000, deviation)
    np.testing.assert_array_equal(factors, again)


def test_mild_and_chaotic_never_draw_the_sumo_car():
    for traffic in ("mild", "chaotic"):
        kinds, _ = drivers.sample_drivers(np.random.default_rng(1), 4000, traffic)
        assert set(kinds.tolist()) == {0, 1, 2}
