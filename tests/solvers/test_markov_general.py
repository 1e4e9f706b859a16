"""Nash-Q / CE-Q style value iteration on general-sum Markov games."""

import numpy as np
import pytest

from metagame.envs import make
from metagame.envs.markov import random_game
from metagame.solvers import markov_nash_conv
from metagame.solvers.markov import solve_general_sum_markov, solve_markov_game


@pytest.mark.parametrize("method", ["nash", "ce"])
def test_zero_sum_games_get_the_shapley_value(method):
    tab = random_game(3, (3, 2), seed=2, gamma=0.3).tabular()
    ref = solve_markov_game(tab.R, tab.T, 0.3, tol=1e-10)
    sol = solve_general_sum_markov(tab.rewards, tab.T, 0.3, method=method, tol=1e-10)
    assert sol.converged
    np.testing.assert_allclose(sol.V[0], ref.V, atol=1e-8)
    np.testing.assert_allclose(sol.V[1], -ref.V, atol=1e-8)


@pytest.mark.parametrize("method", ["nash", "ce"])
def test_repeated_prisoners_dilemma_defects_every_round(method):
    tab = make("matrix", game="prisoners_dilemma", rounds=3).tabular()
    sol = solve_general_sum_markov(tab.rewards, tab.T, 1.0, method=method)
    np.testing.assert_allclose(sol.V[:, 0], [3.0, 3.0])  # (defect, defect) pays 1 per round
    if method == "nash":
        np.testing.assert_allclose(sol.policies[0][:-1, 1], 1.0)
        assert sol.nash_conv == pytest.approx(0.0, abs=1e-12)


def test_converged_nash_iteration_is_a_markov_perfect_equilibrium():
    """When the sweeps settle, no player gains from its best-response MDP (checked exactly)."""
    tab = random_game(5, (2, 3), zero_sum=False, gamma=0.5, seed=4).tabular()
    sol = solve_general_sum_markov(tab.rewards, tab.T, 0.5, method="nash", tol=1e-11)
    assert sol.converged and sol.stage_gap < 1e-9
    assert sol.nash_conv < 1e-8
    assert markov_nash_conv(tab.rewards, tab.T, 0.5, *sol.policies) == sol.nash_conv
    # an arbitrary other stationary pair is exploitable: the certificate can fail
    uniform = (np.full((5, 2), 0.5), np.full((5, 3), 1 / 3))
    assert markov_nash_conv(tab.rewards, tab.T, 0.5, *uniform) > 0.01
    with pytest.raises(ValueError, match="pi_2 must have shape"):
        markov_nash_conv(tab.rewards, tab.T, 0.5, uniform[0], uniform[0])


def test_three_player_correlated_iteration():
    tab = random_game(3, (2, 2, 2), zero_sum=False, gamma=0.3, seed=1).tabular()
    sol = solve_general_sum_markov(tab.rewards, tab.T, 0.3, method="ce", tol=1e-9)
    assert sol.converged and sol.V.shape == (3, 3) and sol.joint.shape == (3, 2, 2, 2)
    assert sol.stage_gap < 1e-6
    np.testing.assert_allclose(sol.joint.sum((1, 2, 3)), 1.0)


def test_bad_input_names_the_problem():
    tab = random_game(3, (2, 2, 2), zero_sum=False, seed=1).tabular()
    with pytest.raises(ValueError, match="two players"):
        solve_general_sum_markov(tab.rewards, tab.T, 0.5, method="nash")
    with pytest.raises(ValueError, match="method"):
        solve_general_sum_markov(tab.rewards, tab.T, 0.5, method="friend")
    with pytest.raises(ValueError, match="rewards must have shape"):
        solve_general_sum_markov(tab.rewards[0], tab.T, 0.5, method="ce")
