"""Zero-sum Markov games: Shapley value iteration and policy iteration against brute force."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from metagame.envs import make
from metagame.envs.markov import CATALOG, matrix_game, random_game
from metagame.envs.markov.soccer import swap_players
from metagame.solvers import markov_exploitability, solve_markov_game
from metagame.solvers.markov import METHODS


def lp_value(M):
    """Value of the matrix game M (row maximizes) by scipy's LP: max v, M^T x >= v, sum x = 1."""
    m, n = M.shape
    res = linprog(
        np.r_[np.zeros(m), -1.0],
        A_ub=np.c_[-M.T, np.ones(n)],
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(m), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * m + [(None, None)],
    )
    return -res.fun


def finite_horizon_value(R, T, gamma, H):
    """Backward induction over the H-step game, one LP per state and step (brute force)."""
    V = np.zeros(R.shape[0])
    for _ in range(H):
        Q = R + gamma * T @ V
        V = np.array([lp_value(q) for q in Q])
    return V


@pytest.fixture(scope="module")
def soccer():
    tab = make("soccer").tabular(sparse=True)
    return tab, solve_markov_game(tab.R, tab.T, gamma=0.9, tol=1e-9)


def test_soccer_fixed_point_symmetry_and_certificate(soccer):
    tab, sol = soccer
    assert sol.residual < 1e-8
    assert sol.exploitability < 1e-6
    assert np.all(sol.lower <= sol.V + 1e-6) and np.all(sol.V <= sol.upper + 1e-6)
    perm = np.array([swap_players(s) for s in range(tab.num_states)])
    np.testing.assert_allclose(sol.V[perm], -sol.V, atol=1e-8)
    assert tab.initial @ sol.V == pytest.approx(0.0, abs=1e-8)  # symmetric kick-off
    # the fixed point, checked state by state with scipy's LP on a sample of states
    Q = tab.R + 0.9 * (tab.T @ sol.V).reshape(tab.R.shape)
    for s in np.random.default_rng(0).choice(760, 60, replace=False):
        assert lp_value(Q[s]) == pytest.approx(sol.V[s], abs=1e-8)
    # holding the ball one step from the opponent's goal is worth a sure goal for A
    from metagame.envs.markov.soccer import state_index

    assert sol.V[state_index((1, 0), (3, 4), 0)] == pytest.approx(1.0)
    assert sol.V[state_index((3, 0), (1, 4), 1)] == pytest.approx(-1.0)


def test_newton_policy_iteration_agrees_on_soccer(soccer):
    tab, ref = soccer
    method = "pollatschek_avi_itzhak"
    sol = solve_markov_game(tab.R, tab.T, gamma=0.9, tol=1e-9, method=method)
    assert sol.method == method and sol.iterations < ref.iterations
    np.testing.assert_allclose(sol.V, ref.V, atol=1e-8)
    assert sol.exploitability < 1e-6


@settings(max_examples=6)
@given(
    st.integers(0, 10_000),
    st.integers(2, 3),
    st.integers(2, 3),
    st.integers(2, 3),
    st.sampled_from(METHODS),
)
def test_random_games_match_finite_horizon_brute_force(seed, S, A, B, method):
    game = random_game(S, (A, B), num_successors=2, gamma=0.15, seed=seed)
    tab = game.tabular()
    sol = solve_markov_game(tab.R, tab.T, 0.15, tol=1e-12, method=method)
    H = 14  # truncation error <= 0.15^14 / (1 - 0.15) ~ 4e-12
    np.testing.assert_allclose(sol.V, finite_horizon_value(tab.R, tab.T, 0.15, H), atol=1e-10)
    assert sol.exploitability < 1e-8


def _policy_value(R, T, gamma, pi_1, pi_2):
    r = np.einsum("sa,sab,sb->s", pi_1, R, pi_2)
    P = np.einsum("sa,sabt,sb->st", pi_1, T, pi_2)
    return np.linalg.solve(np.eye(len(r)) - gamma * P, r)


def test_exploitability_equals_enumerated_best_responses():
    """lower/upper are the best responses over all deterministic stationary policies."""
    tab = random_game(3, (2, 3), num_successors=2, gamma=0.8, seed=7).tabular()
    rng = np.random.default_rng(1)
    pi_1 = rng.dirichlet(np.ones(2), size=3)
    pi_2 = rng.dirichlet(np.ones(3), size=3)
    ex = markov_exploitability(tab.R, tab.T, 0.8, pi_1, pi_2)
    eye2, eye3 = np.eye(2), np.eye(3)
    lower = np.min(
        [
            _policy_value(tab.R, tab.T, 0.8, pi_1, eye3[list(d)])
            for d in itertools.product(range(3), repeat=3)
        ],
        axis=0,
    )
    upper = np.max(
        [
            _policy_value(tab.R, tab.T, 0.8, eye2[list(d)], pi_2)
            for d in itertools.product(range(2), repeat=3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(ex.lower, lower, atol=1e-12)
    np.testing.assert_allclose(ex.upper, upper, atol=1e-12)
    assert ex.gap == pytest.approx(np.max(upper - lower)) and ex.gap > 0.01


def test_pursuit_on_a_path_is_a_capture_in_two_steps():
    env = make("pursuit_evasion", graph="path:3", pursuer_starts=[0], evader_start=2, gamma=0.9)
    tab = env.tabular(sparse=True)
    sol = solve_markov_game(tab.R, tab.T, 0.9)
    start = int(np.argmax(tab.initial))
    assert sol.V[start] == pytest.approx(0.9, abs=1e-9)  # +1 on the second step


@pytest.mark.parametrize("graph,pursuers", [("star:3", 1), ("path:3", 2)])
def test_pursuit_matches_finite_horizon_brute_force(graph, pursuers):
    env = make("pursuit_evasion", graph=graph, num_pursuers=pursuers, gamma=0.1)
    tab = env.tabular().teams(pursuers)
    sol = solve_markov_game(tab.R, tab.T, 0.1, tol=1e-12, method="hoffman_karp")
    np.testing.assert_allclose(sol.V, finite_horizon_value(tab.R, tab.T, 0.1, 12), atol=1e-10)
    assert np.all(sol.V >= -1e-12) and np.all(sol.V <= 1 + 1e-12)


def test_one_pursuer_never_catches_an_evader_on_a_long_cycle():
    """On a cycle of length >= 4 the evader escapes surely; two pursuers corner it."""
    tab = make("pursuit_evasion", graph="cycle:6", gamma=0.9).tabular(sparse=True)
    sol = solve_markov_game(tab.R, tab.T, 0.9)
    start = tab.initial > 0
    np.testing.assert_allclose(sol.V[start], 0.0, atol=1e-9)
    two = make("pursuit_evasion", graph="cycle:6", num_pursuers=2, gamma=0.9).tabular()
    two = two.teams(2)
    sol = solve_markov_game(two.R, two.T, 0.9)
    assert np.all(sol.V[two.initial > 0] > 0.5)


def test_repeated_matrix_game_with_gamma_one():
    env = matrix_game(CATALOG["biased_rps"].A, rounds=3)
    tab = env.tabular()
    sol = solve_markov_game(tab.R, tab.T, 1.0)
    value = lp_value(CATALOG["biased_rps"].A)
    assert tab.initial @ sol.V == pytest.approx(3 * value, abs=1e-9)
    assert sol.exploitability < 1e-9


def test_iterative_policy_evaluation_matches_sparse_lu(monkeypatch):
    """Large games evaluate policies by BiCGSTAB instead of LU: same answers."""
    import metagame.solvers.markov as markov

    tab = random_game(60, (3, 3), seed=4).tabular(sparse=True)
    direct = solve_markov_game(tab.R, tab.T, 0.9, method="hoffman_karp")
    monkeypatch.setattr(markov, "DIRECT_LIMIT", 10)
    iterative = solve_markov_game(tab.R, tab.T, 0.9, method="hoffman_karp")
    np.testing.assert_allclose(iterative.V, direct.V, atol=1e-12)
    np.testing.assert_allclose(iterative.lower, direct.lower, atol=1e-11)
    assert iterative.exploitability == pytest.approx(direct.exploitability, abs=1e-11)


def test_bad_input_names_the_problem():
    tab = random_game(3, (2, 2), seed=0).tabular()
    with pytest.raises(ValueError, match="sums to"):
        solve_markov_game(tab.R, tab.T * 0.5, 0.9)
    with pytest.raises(ValueError, match="T must have shape"):
        solve_markov_game(tab.R, tab.T[:, :1], 0.9)
    with pytest.raises(ValueError, match="gamma"):
        solve_markov_game(tab.R, tab.T, 1.5)
    with pytest.raises(ValueError, match="no cycle"):
        solve_markov_game(tab.R, tab.T, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        solve_markov_game(np.full_like(tab.R, np.nan), tab.T, 0.9)
    with pytest.raises(ValueError, match="unknown method"):
        solve_markov_game(tab.R, tab.T, 0.9, method="newton")
    with pytest.raises(ValueError, match="pi_1 rows"):
        markov_exploitability(tab.R, tab.T, 0.9, np.ones((3, 2)), np.full((3, 2), 0.5))
