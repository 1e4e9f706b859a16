"""NashConv / exploitability of N-player normal-form games: known values, a brute-force
reference over pure profiles, properties and bad input."""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.solvers.normal_form import (
    as_payoff_tensor,
    best_response_values,
    deviation_gains,
    expected_payoffs,
    exploitability,
    nash_conv,
)

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
PENNIES = np.array([[1.0, -1.0], [-1.0, 1.0]])


def brute_nash_conv(tensor, profile):
    """Independent reference: loop over every pure profile and every unilateral deviation."""
    n = tensor.shape[0]
    shape = tensor.shape[1:]
    total = 0.0
    for i in range(n):
        current = 0.0
        deviation = np.zeros(shape[i])
        for a in itertools.product(*(range(k) for k in shape)):
            p_others = np.prod([profile[j][a[j]] for j in range(n) if j != i])
            current += profile[i][a[i]] * p_others * tensor[(i, *a)]
            deviation[a[i]] += p_others * tensor[(i, *a)]
        total += deviation.max() - current
    return total


def test_known_values_two_player():
    uniform3 = np.full(3, 1 / 3)
    assert nash_conv((RPS, -RPS), [uniform3, uniform3]) == pytest.approx(0.0, abs=1e-12)
    rock = np.array([1.0, 0.0, 0.0])
    # row plays rock: row is indifferent (value 0 = best 0), column gains 1 by paper
    assert nash_conv((RPS, -RPS), [rock, uniform3]) == pytest.approx(1.0)
    heads = np.array([1.0, 0.0])
    assert nash_conv((PENNIES, -PENNIES), [heads, heads]) == pytest.approx(2.0)
    assert exploitability((PENNIES, -PENNIES), [heads, heads]) == pytest.approx(1.0)
    np.testing.assert_allclose(expected_payoffs((PENNIES, -PENNIES), [heads, heads]), [1.0, -1.0])
    np.testing.assert_allclose(
        best_response_values((PENNIES, -PENNIES), [heads, heads]), [1.0, 1.0]
    )


def test_zero_sum_exploitability_is_half_the_duality_gap():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((4, 6))
    x, y = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(6))
    gap = (A @ y).max() - (x @ A).min()
    assert exploitability([A, -A], [x, y]) == pytest.approx(gap / 2)


def test_three_player_against_brute_force():
    rng = np.random.default_rng(1)
    tensor = rng.standard_normal((3, 2, 3, 4))
    profile = [rng.dirichlet(np.ones(k)) for k in (2, 3, 4)]
    assert nash_conv(tensor, profile) == pytest.approx(brute_nash_conv(tensor, profile))
    assert exploitability(tensor, profile) == pytest.approx(brute_nash_conv(tensor, profile) / 3)
    # the same game as a list of per-player arrays
    assert nash_conv(list(tensor), profile) == pytest.approx(nash_conv(tensor, profile))


def test_pure_nash_equilibrium_has_zero_nash_conv():
    # three-player coordination: everyone gets 1 when all match, else 0
    tensor = np.zeros((3, 2, 2, 2))
    tensor[:, 0, 0, 0] = tensor[:, 1, 1, 1] = 1.0
    ones = [np.array([0.0, 1.0])] * 3
    assert nash_conv(tensor, ones) == 0.0
    mixed = [np.array([0.5, 0.5])] * 3
    # each player: value 1/4, best response 1/4 -> also an equilibrium
    assert nash_conv(tensor, mixed) == pytest.approx(0.0, abs=1e-12)
    off = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0])]
    np.testing.assert_allclose(deviation_gains(tensor, off), [1.0, 0.0, 0.0])


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_properties(shape, seed):
    rng = np.random.default_rng(seed)
    n = len(shape)
    tensor = rng.integers(-5, 6, size=(n, *shape)).astype(float)
    profile = [rng.dirichlet(np.ones(k)) for k in shape]
    gains = deviation_gains(tensor, profile)
    assert (gains >= 0).all()
    assert nash_conv(tensor, profile) == pytest.approx(brute_nash_conv(tensor, profile), abs=1e-9)
    # a positive affine change of one player's payoffs scales only its gain
    scaled = tensor.copy()
    scaled[0] = 3.0 * scaled[0] + 7.0
    np.testing.assert_allclose(deviation_gains(scaled, profile)[0], 3.0 * gains[0], atol=1e-9)
    # best-response value bounds the current value
    assert (
        best_response_values(tensor, profile) >= expected_payoffs(tensor, profile) - 1e-12
    ).all()


@pytest.mark.parametrize(
    ("payoffs", "strategies", "match"),
    [
        (RPS, [np.ones(3) / 3] * 2, "expected \\(N, A_1"),
        (np.zeros((2, 2, 2)), [np.ones(2) / 2], "list of 2 probability vectors"),
        ([np.zeros((2, 2)), np.zeros((2, 3))], [np.ones(2) / 2] * 2, "differ in shape"),
        ([], [], "empty"),
        ((PENNIES, [[1.0, np.nan], [0.0, 0.0]]), [np.ones(2) / 2] * 2, "NaN"),
        ((PENNIES, -PENNIES), [np.ones(2) / 2, np.ones(3) / 3], "length 2"),
        ((PENNIES, -PENNIES), [np.ones(2) / 2, np.array([0.7, 0.7])], "probability vector"),
        ((PENNIES, -PENNIES), [np.ones(2) / 2, np.array([1.5, -0.5])], "probability vector"),
    ],
)
def test_bad_input(payoffs, strategies, match):
    with pytest.raises(ValueError, match=match):
        nash_conv(payoffs, strategies)


def test_tensor_shape_is_checked():
    assert as_payoff_tensor((PENNIES, -PENNIES)).shape == (2, 2, 2)
    with pytest.raises(ValueError, match="ragged"):
        as_payoff_tensor(np.array([[1.0, 2.0], [3.0]], dtype=object))
