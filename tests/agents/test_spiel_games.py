"""Chance outcomes of the vectorised runner's games: ``draw`` picks what NumPy's inverse CDF
picks (``searchsorted`` on ``cumsum``), for any probabilities and uniform draw."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from metagame.agents.rllib.spiel_games import draw


def reference(outcomes, uniform):
    actions, probs = zip(*outcomes, strict=True)
    cdf = np.cumsum(probs)
    k = int(np.searchsorted(cdf, uniform * cdf[-1], side="right"))
    return actions[min(k, len(actions) - 1)]


@given(
    st.lists(st.floats(0, 1, exclude_min=True), min_size=1, max_size=12),
    st.floats(0, 1, exclude_max=True),
)
def test_draw_is_the_inverse_cdf(probs, uniform):
    outcomes = [(10 + k, p) for k, p in enumerate(probs)]
    assert draw(outcomes, uniform) == reference(outcomes, uniform)


def test_draw_follows_the_probabilities():
    rng = np.random.default_rng(0)
    outcomes = [(0, 0.2), (1, 0.5), (2, 0.3)]
    counts = np.bincount([draw(outcomes, rng.random()) for _ in range(20000)], minlength=3)
    p = np.array([0.2, 0.5, 0.3])
    se = np.sqrt(p * (1 - p) / 20000)
    assert np.all(np.abs(counts / 20000 - p) < 5 * se)
