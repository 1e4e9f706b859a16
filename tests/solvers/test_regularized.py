"""KL-regularized zero-sum games: fixed-point equations, an independent root finder, limits."""

import numpy as np
import pytest
from scipy.optimize import fsolve
from scipy.special import softmax

from metagame.solvers import solve_regularized, solve_zero_sum
from metagame.solvers.regularized import regularized_certificate


def fixed_point_by_fsolve(A, beta, mu, nu):
    """Independent reference: solve the softmax equations for the logits with scipy."""
    m, n = A.shape

    def equations(z):
        a, b = z[:m], z[m:]
        x, y = softmax(a), softmax(b)
        return (
            np.r_[a - np.log(mu) - A @ y / beta, b - np.log(nu) + A.T @ x / beta]
            - np.r_[
                np.full(m, a[0] - np.log(mu[0]) - (A @ y)[0] / beta),
                np.full(n, b[0] - np.log(nu[0]) + (A.T @ x)[0] / beta),
            ]
        )

    z = fsolve(equations, np.zeros(m + n), xtol=1e-13)
    return softmax(z[:m]), softmax(z[m:])


@pytest.mark.parametrize(
    "shape, beta, seed", [((1, 1), 0.5, 0), ((3, 4), 0.2, 1), ((8, 5), 1.0, 2)]
)
def test_matches_an_independent_root_finder(shape, beta, seed):
    rng = np.random.default_rng(seed)
    A = rng.uniform(-1, 1, size=shape)
    mu, nu = rng.dirichlet(np.ones(shape[0])), rng.dirichlet(np.ones(shape[1]))
    eq = solve_regularized(A, beta, mu, nu, tol=1e-13)
    x, y = fixed_point_by_fsolve(A, beta, mu, nu)
    # the gap is quadratic in the distance: gap 1e-13 pins the strategies to about 1e-6
    np.testing.assert_allclose(eq.row, x, atol=1e-6)
    np.testing.assert_allclose(eq.col, y, atol=1e-6)
    assert eq.gap <= 1e-13 and eq.residual <= 1e-5


def test_fixed_point_equations_hold():
    A = np.random.default_rng(3).normal(size=(30, 20))
    eq = solve_regularized(A, 0.1, tol=1e-13)
    np.testing.assert_allclose(eq.row, softmax(A @ eq.col / 0.1), atol=1e-5)
    np.testing.assert_allclose(eq.col, softmax(-(eq.row @ A) / 0.1), atol=1e-5)
    value, gap, residual = regularized_certificate(
        A, 0.1, np.log(np.full(30, 1 / 30)), np.log(np.full(20, 1 / 20)), eq.row, eq.col
    )
    assert value == pytest.approx(eq.value) and gap == pytest.approx(eq.gap, abs=1e-12)


def test_symmetric_preference_game_has_a_symmetric_solution():
    rng = np.random.default_rng(4)
    E = rng.normal(size=(6, 6))
    P = 1 / (1 + np.exp(-(E - E.T)))
    mu = rng.dirichlet(np.ones(6))
    eq = solve_regularized(P, 0.05, mu, mu, tol=1e-12)
    np.testing.assert_allclose(eq.row, eq.col, atol=1e-9)


def test_matching_pennies_is_uniform_and_small_beta_approaches_nash():
    eq = solve_regularized([[1.0, -1.0], [-1.0, 1.0]], 0.3)
    np.testing.assert_allclose(eq.row, [0.5, 0.5], atol=1e-9)
    A = np.random.default_rng(5).uniform(-1, 1, size=(6, 6))
    nash = solve_zero_sum(A, method="simplex")
    gaps = [(A @ solve_regularized(A, beta).col).max() - nash.value for beta in (0.1, 0.01)]
    assert 0 <= gaps[1] < gaps[0] and gaps[1] <= 0.01 * np.log(6) * 2 + 1e-9


def test_budget_reports_an_honest_gap():
    A = np.random.default_rng(6).normal(size=(50, 50))
    eq = solve_regularized(A, 0.01, max_iter=3)
    assert eq.iterations == 3 and eq.gap > 1e-10


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": np.nan}, "beta"),
        ({"beta": 1.0, "ref_row": [1.0, 0.0]}, "strictly positive"),
        ({"beta": 1.0, "ref_col": [0.5, 0.2, 0.3]}, "length 2"),
        ({"beta": 1.0, "ref_row": [0.7, 0.7]}, "probability vector"),
        ({"beta": 1.0, "tol": -1.0}, "tol"),
        ({"beta": 1.0, "max_iter": 0}, "max_iter"),
        ({"beta": 1.0, "eta": 10.0}, "eta"),
    ],
)
def test_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        solve_regularized([[1.0, -1.0], [-1.0, 1.0]], **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        solve_regularized([[np.nan]], 1.0)
