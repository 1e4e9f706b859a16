import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metagame._arrays import as_preference_matrix
from metagame.envs.preference import (
    bradley_terry,
    condorcet_winner,
    cyclic_panel,
    rater_panel,
    skew_symmetric_noise,
)

scores = arrays(np.float64, st.integers(2, 8), elements=st.floats(-5, 5))


@given(scores)
def test_bradley_terry_is_a_transitive_preference_matrix(s):
    P = as_preference_matrix(bradley_terry(s))
    np.testing.assert_allclose(P, 1 / (1 + np.exp(s[None, :] - s[:, None])), atol=1e-12)
    top = np.sort(s)[::-1]
    if top[0] - top[1] > 1e-9:  # a unique best score (beyond float resolution) beats all
        assert condorcet_winner(P) == int(np.argmax(s))


def test_cyclic_panel_is_a_condorcet_cycle():
    P = cyclic_panel(3)
    np.testing.assert_array_equal(P, [[0.5, 1, 0], [0, 0.5, 1], [1, 0, 0.5]])
    assert condorcet_winner(P) is None
    P5 = cyclic_panel(5)
    np.testing.assert_array_equal((P5 > 0.5).sum(axis=1), [2] * 5)


def test_rater_panel_majority_and_proportion():
    U = np.array([[3, 2, 1], [1, 3, 2], [2, 1, 3]], dtype=float)  # three rotated rankings
    np.testing.assert_array_equal(rater_panel(U), cyclic_panel(3))
    prop = rater_panel(U, aggregate="proportion")
    np.testing.assert_allclose(prop[0, 1], 2 / 3)
    heavy = rater_panel(U, weights=[10, 1, 1])  # a dictator rater: transitive
    assert condorcet_winner(heavy) == 0
    with pytest.raises(ValueError, match="weights"):
        rater_panel(U, weights=[1, 1])
    with pytest.raises(ValueError, match="aggregate"):
        rater_panel(U, aggregate="mean")


@given(scores, st.floats(0, 0.5), st.integers(0, 100))
def test_skew_noise_keeps_a_preference_matrix(s, scale, seed):
    P = skew_symmetric_noise(bradley_terry(s), scale, seed)
    as_preference_matrix(P)
    assert np.abs(P - bradley_terry(s)).max() <= scale + 1e-12


def test_skew_noise_breaks_transitivity():
    base = bradley_terry([0.0, 0.05, 0.1])
    assert condorcet_winner(base) == 2
    found = [condorcet_winner(skew_symmetric_noise(base, 0.3, seed)) for seed in range(30)]
    assert None in found


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="NaN"):
        bradley_terry([0.0, np.nan])
    with pytest.raises(ValueError, match="diagonal"):
        condorcet_winner(np.ones((2, 2)))
    with pytest.raises(ValueError, match="n must"):
        cyclic_panel(1)
