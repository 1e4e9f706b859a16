"""Minimax winners against scipy HiGHS, known answers, count estimates and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.solvers import (
    exploitability,
    minimax_winner,
    minimax_winner_from_counts,
    preference_exploitability,
    solve_regularized,
)
from metagame.solvers.preference import wilson_lower


def preference_matrix(n, seed, scale=1.0, noise=2.0):
    """Bradley-Terry strengths plus skew-symmetric intransitive noise."""
    rng = np.random.default_rng(seed)
    s = rng.normal(scale=scale, size=n)
    E = rng.normal(scale=noise, size=(n, n))
    P = 1.0 / (1.0 + np.exp(-(s[:, None] - s[None, :] + (E - E.T) / np.sqrt(2))))
    np.fill_diagonal(P, 0.5)
    return P


def test_condorcet_winner_is_returned_without_solving():
    P = preference_matrix(50, 0, scale=5.0, noise=0.1)
    best = int(np.argmax((P >= 0.5).sum(axis=1)))
    mw = minimax_winner(P)
    assert mw.method == "condorcet" and mw.iterations == 0
    assert mw.row[best] == 1.0 and mw.gap == 0.0


def test_cyclic_preferences_give_the_uniform_winner():
    P = np.array([[0.5, 0.9, 0.1], [0.1, 0.5, 0.9], [0.9, 0.1, 0.5]])
    mw = minimax_winner(P)
    np.testing.assert_allclose(mw.row, [1 / 3] * 3, atol=1e-9)
    np.testing.assert_array_equal(mw.row, mw.col)


@pytest.mark.parametrize("method", ["auto", "simplex", "highs", "double_oracle", "prm+"])
@pytest.mark.parametrize("n, seed", [(5, 0), (40, 1), (200, 2)])
def test_random_preferences_match_highs(highs_value, method, n, seed):
    P = preference_matrix(n, seed)
    tol = 1e-5 if method == "prm+" else 1e-9
    mw = minimax_winner(P, tol=tol, method=method)
    assert mw.gap <= tol
    assert highs_value(P) == pytest.approx(0.5, abs=1e-9)  # max_x min_j (x^T P)_j
    assert (mw.row @ P).min() >= 0.5 - tol / 2 - 1e-12
    assert mw.value == pytest.approx(0.0, abs=1e-12)
    assert np.all(mw.row >= 0) and mw.row.sum() == pytest.approx(1.0)


def test_auto_uses_double_oracle_on_small_supports():
    mw = minimax_winner(preference_matrix(600, 3))
    assert mw.method == "double_oracle"
    assert np.count_nonzero(mw.row) < 60 and mw.gap <= 1e-9


def test_counts_recover_the_winner_and_bound_it():
    P_true = preference_matrix(12, 4)
    rng = np.random.default_rng(5)
    games = np.triu(rng.integers(300, 500, size=(12, 12)), 1)
    games = games + games.T
    wins = np.triu(rng.binomial(games, P_true), 1)
    wins = wins + np.tril(games - wins.T, -1)
    est = minimax_winner_from_counts(wins, confidence=0.95)
    np.testing.assert_allclose(est.P + est.P.T, 1.0)
    assert np.abs(est.P - P_true).max() < 0.1
    true_rates = est.row @ P_true
    assert np.all(est.lower_bounds <= true_rates)
    assert est.lower_bound == pytest.approx(est.lower_bounds.min())
    assert 0.3 < est.lower_bound < 0.5


def test_ties_count_half_and_missing_pairs_are_uninformative():
    wins = np.array([[0, 6, 0], [2, 0, 3], [0, 3, 0]], dtype=float)
    ties = np.array([[0, 4, 0], [4, 0, 2], [0, 2, 0]], dtype=float)
    est = minimax_winner_from_counts(wins, ties)
    assert est.P[0, 1] == pytest.approx((6 + 2) / 12)
    assert est.P[1, 2] == pytest.approx((3 + 1) / 8)
    assert est.P[0, 2] == 0.5 and est.games[0, 2] == 0
    assert est.lower_bounds.shape == (3,)
    # pair (0, 2) was never played: nothing is known, so the bound against 2 is at most the
    # winner's mass off candidate 0 and 2 plus half its mass on 2
    x = est.row
    assert est.lower_bounds[2] <= x[1] + 0.5 * x[2] + 1e-12


def test_wilson_bounds_are_below_the_rate_and_shrink_with_data():
    p = np.array([0.0, 0.3, 0.5, 1.0])
    few, many = wilson_lower(p, np.full(4, 10.0), 1.96), wilson_lower(p, np.full(4, 1e4), 1.96)
    assert np.all(few <= p) and np.all(many <= p) and np.all(few <= many)
    assert np.all(wilson_lower(p, np.zeros(4), 1.96) == 0.0)


@pytest.mark.parametrize(
    "P, message",
    [
        ([[0.5, 0.7], [0.7, 0.5]], "expected 1"),
        ([[0.4, 0.5], [0.5, 0.6]], "diagonal"),
        ([[0.5, 1.5], [-0.5, 0.5]], r"\[0, 1\]"),
        ([[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]], "square"),
        ([[0.5, np.nan], [np.nan, 0.5]], "NaN"),
        ([[0.5, np.inf], [-np.inf, 0.5]], "inf"),
        (np.zeros((0, 0)), "empty"),
        ([0.5, 0.5], "2-dimensional"),
        ([[0.5, 0.5], [0.5]], "ragged"),
    ],
)
def test_not_a_preference_matrix(P, message):
    with pytest.raises(ValueError, match=message):
        minimax_winner(P)


def test_bad_counts():
    with pytest.raises(ValueError, match="nonnegative"):
        minimax_winner_from_counts([[0, -1], [2, 0]])
    with pytest.raises(ValueError, match="square"):
        minimax_winner_from_counts([[0, 1, 2], [2, 0, 1]])
    with pytest.raises(ValueError, match="ties"):
        minimax_winner_from_counts([[0, 1], [2, 0]], ties=[[0, 1], [2, 0]])
    with pytest.raises(ValueError, match="confidence"):
        minimax_winner_from_counts([[0, 1], [2, 0]], confidence=1.5)


@given(n=st.integers(2, 7), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=40, deadline=None)
def test_preference_exploitability_is_the_symmetric_profiles_exploitability(n, seed):
    """beta = 0: the N-player certificate of (x, x) in (P - 1/2, 1/2 - P); beta > 0: one half
    of the regularised game's duality gap, which is zero at solve_regularized's saddle point."""
    P = preference_matrix(n, seed % 1000)
    x = np.random.default_rng(seed).dirichlet(np.ones(n))
    assert preference_exploitability(P, x) == pytest.approx(
        exploitability((P - 0.5, 0.5 - P), [x, x]), abs=1e-12
    )
    assert preference_exploitability(P, x) >= 0.0
    saddle = solve_regularized(P - 0.5, beta=0.3, tol=1e-12).row
    assert preference_exploitability(P, saddle, beta=0.3) < 1e-8
