"""Tabular preference learners against independent references (HiGHS LP, a root-found
regularised fixed point) and the solvers' minimax winner."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import linprog, root
from scipy.special import softmax

from metagame.agents.preference import (
    PreferenceOracle,
    bt_reward_model,
    inpo,
    inpo_regression,
    kl,
    mirror_step,
    nash_md,
    nash_mp,
    spo,
)
from metagame.envs.preference import bradley_terry, cyclic_panel, skew_symmetric_noise
from metagame.solvers import minimax_winner, preference_exploitability, solve_regularized

# An intransitive 6-candidate matrix (no Condorcet winner) whose minimax winner has support
# {1, 3, 4}, while the Bradley-Terry fit ranks candidate 4 first.
P6 = skew_symmetric_noise(bradley_terry(np.linspace(0, 0.6, 6)), 0.35, seed=1)
INIT = np.array([0.3, 0.05, 0.25, 0.1, 0.2, 0.1])


def lp_minimax_winner(P):
    """max v s.t. (P - 1/2)^T x >= v, x in the simplex (HiGHS)."""
    n = len(P)
    A_ub = np.hstack([-(P - 0.5).T, np.ones((n, 1))])
    res = linprog(
        np.r_[np.zeros(n), -1.0],
        A_ub=A_ub,
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(n), 0.0][None],
        b_eq=[1.0],
        bounds=[(0, None)] * n + [(None, None)],
        method="highs",
    )
    return res.x[:n]


def regularized_fixed_point(P, beta, mu=None):
    """x = softmax(log mu + (P - 1/2) x / beta), found by scipy's root finder on logits."""
    n = len(P)
    mu = np.full(n, 1 / n) if mu is None else mu
    sol = root(lambda z: z - (np.log(mu) + (P - 0.5) @ softmax(z) / beta), np.log(mu), tol=1e-14)
    x = softmax(sol.x)
    assert np.abs(x - softmax(np.log(mu) + (P - 0.5) @ x / beta)).max() < 1e-12
    return x


def test_exploitability_known_values():
    P = cyclic_panel(3)
    assert preference_exploitability(P, np.ones(3) / 3) == pytest.approx(0.0)
    assert preference_exploitability(P, [1, 0, 0]) == pytest.approx(0.5)
    assert preference_exploitability(P6, lp_minimax_winner(P6)) == pytest.approx(0.0, abs=1e-9)
    assert preference_exploitability(P6, regularized_fixed_point(P6, 0.1), 0.1) < 1e-10


@pytest.mark.parametrize("learner", [spo, nash_mp])
def test_last_iterate_reaches_the_minimax_winner(learner):
    x = learner(P6, 2000, beta=0.0, init=INIT)
    winner = lp_minimax_winner(P6)
    assert preference_exploitability(P6, x) < 0.01
    assert np.abs(x - winner).sum() < 0.05
    cycle = learner(cyclic_panel(5), 2000, beta=0.0, init=softmax(np.arange(5.0)))
    assert preference_exploitability(cyclic_panel(5), cycle) < 0.01
    np.testing.assert_allclose(cycle, minimax_winner(cyclic_panel(5)).row, atol=0.01)


def test_against_the_solvers_minimax_winner():
    winner = minimax_winner(P6).row
    np.testing.assert_allclose(winner, lp_minimax_winner(P6), atol=1e-6)
    assert np.abs(spo(P6, 2000, init=INIT) - winner).sum() < 0.05
    assert np.abs(nash_mp(P6, 2000, beta=0.0, init=INIT) - winner).sum() < 1e-3


@pytest.mark.parametrize("learner", [nash_mp, nash_md, inpo, spo])
@pytest.mark.parametrize("beta", [0.05, 0.5])
def test_regularized_fixed_point(learner, beta):
    star = regularized_fixed_point(P6, beta)
    x = learner(P6, 3000, beta=beta, init=INIT)
    assert kl(star, x) < 1e-6
    assert preference_exploitability(P6, x, beta) < 1e-5


@pytest.mark.parametrize("learner", [nash_mp, nash_md, inpo, spo])
def test_against_solve_regularized(learner):
    mu = np.full(6, 1 / 6)
    eq = solve_regularized(P6 - 0.5, 0.1, mu, mu)
    np.testing.assert_allclose(eq.row, regularized_fixed_point(P6, 0.1), atol=1e-6)
    x = learner(P6, 2000, beta=0.1, init=INIT)
    assert kl(eq.row, x) < 1e-6
    assert preference_exploitability(P6, x, 0.1) < 1e-6


def test_small_beta_is_nearly_unexploitable():
    x = nash_mp(P6, 1000, beta=0.002, init=INIT)
    assert preference_exploitability(P6, x) < 0.01


def test_bt_baseline_ends_exploitable():
    bt = bt_reward_model(P6, 500, beta=0.0)
    assert int(np.argmax(bt)) == 4 and bt.max() > 0.99
    spo_x = spo(P6, 2000, init=INIT)
    assert preference_exploitability(P6, bt) > 0.05 > 0.01 > preference_exploitability(P6, spo_x)
    sampled = bt_reward_model(P6, 500, beta=0.0, samples=5000, seed=1)
    assert preference_exploitability(P6, sampled) > 0.05


@pytest.mark.parametrize("beta", [0.05, 0.2, 1.0])
def test_nash_mp_kl_decay_beats_the_bound(beta):
    star = regularized_fixed_point(P6, beta)
    _, H = nash_mp(P6, 40, beta=beta, init=INIT, history=True)
    N = 2 * np.arange(len(H))  # two preference queries per iteration
    k = np.array([kl(star, h) for h in H])
    bound = k[0] * (1 + 2 * beta) ** (-N / 2)
    above = k > 1e-12
    assert (k[above] <= bound[above] * (1 + 1e-6)).all()
    rate = np.polyfit(N[above], np.log(k[above]), 1)[0]
    print(
        f"beta={beta}: KL falls by exp({rate:.4f}) per query; bound (1+2beta)^(-1/2) = "
        f"exp({-0.5 * np.log(1 + 2 * beta):.4f})"
    )
    assert rate < -0.5 * np.log(1 + 2 * beta)


def test_sampled_queries():
    spo_x = spo(P6, 1500, init=INIT, samples=400, seed=0, eta=0.3)
    assert preference_exploitability(P6, spo_x) < 0.05
    beta = 0.2
    star = regularized_fixed_point(P6, beta)
    inpo_x = inpo(P6, 300, beta=beta, samples=4000, seed=0, eta=0.5)
    assert preference_exploitability(P6, inpo_x, beta) < 0.01
    assert kl(star, inpo_x) < 0.02
    oracle_calls = PreferenceOracle(P6, samples=3, rng=np.random.default_rng(0))
    oracle_calls.win_rates(np.ones(6) / 6)
    assert oracle_calls.queries == 1


def test_seeds_reproduce_and_history_shape():
    a = nash_md(P6, 50, beta=0.1, samples=10, seed=3, history=True)
    b = nash_md(P6, 50, beta=0.1, samples=10, seed=3, history=True)
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].shape == (51, 6)
    np.testing.assert_allclose(a[1].sum(axis=1), 1.0)
    c = nash_md(P6, 50, beta=0.1, samples=10, seed=4)
    assert not np.array_equal(a[0], c)


@given(st.integers(2, 6), st.integers(0, 10**6), st.floats(0.01, 2.0), st.floats(0.0, 1.0))
def test_inpo_regression_recovers_the_mirror_step(n, seed, eta, beta):
    rng = np.random.default_rng(seed)
    P = skew_symmetric_noise(bradley_terry(rng.normal(size=n)), 0.3, seed)
    x, mu = rng.dirichlet(np.ones(n)), rng.dirichlet(np.ones(n))
    pairs = np.array([(a, b) for a in range(n) for b in range(n)])
    fitted = inpo_regression(
        x, pairs, P.ravel(), eta, beta, mu, weights=(x[:, None] * x[None, :]).ravel(), ridge=1e-12
    )
    np.testing.assert_allclose(fitted, mirror_step(x, P @ x, eta, beta, mu), atol=1e-7)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": -1.0}, "beta"),
        ({"samples": 0}, "samples"),
        ({"eta": 0.0}, "eta"),
        ({"init": [1.0, 0.0]}, "init"),
        ({"reference": [0.5, 0.6, 0, 0, 0, 0]}, "reference"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nash_mp(P6, 10, **kwargs)
    with pytest.raises(ValueError, match="iterations"):
        spo(P6, -1)
    with pytest.raises(ValueError, match="diagonal"):
        inpo(np.ones((3, 3)), 10)
