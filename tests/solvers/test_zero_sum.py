"""Zero-sum solvers against scipy HiGHS, known answers, invariants and bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metagame.solvers import Equilibrium, solve_zero_sum, solve_zero_sum_batch
from metagame.solvers._rm import PRMState, prm_plus_reference
from metagame.solvers._simplex import RestrictedGame, simplex_game, simplex_game_reference

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
BIASED_RPS = np.array([[0.0, -25.0, 50.0], [25.0, 0.0, -5.0], [-50.0, 5.0, 0.0]])
PENNIES = np.array([[1.0, -1.0], [-1.0, 1.0]])
SHAPES = [(1, 1), (1, 5), (6, 1), (2, 2), (3, 7), (9, 4), (10, 10), (40, 25), (64, 64)]


def assert_equilibrium(A, x, y, value, tol):
    assert np.all(x >= 0) and np.isclose(x.sum(), 1.0)
    assert np.all(y >= 0) and np.isclose(y.sum(), 1.0)
    assert (A @ y).max() - (x @ A).min() <= tol
    assert (x @ A).min() - tol <= value <= (A @ y).max() + tol


@pytest.mark.parametrize("method", ["simplex", "highs"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_games_match_highs(highs_value, method, shape, seed):
    A = np.random.default_rng(seed).normal(size=shape)
    eq = solve_zero_sum(A, tol=1e-8, method=method)
    assert isinstance(eq, Equilibrium) and eq.method == method
    assert eq.value == pytest.approx(highs_value(A), abs=1e-7)
    assert eq.gap <= 1e-7
    assert_equilibrium(A, eq.row, eq.col, eq.value, 1e-7)


@pytest.mark.parametrize(
    "A, row, col, value",
    [
        (RPS, [1 / 3] * 3, [1 / 3] * 3, 0.0),
        (PENNIES, [0.5, 0.5], [0.5, 0.5], 0.0),
        (BIASED_RPS, [1 / 16, 10 / 16, 5 / 16], [1 / 16, 10 / 16, 5 / 16], 0.0),
        (np.array([[3.0, 1.0], [4.0, 2.0]]), [0.0, 1.0], [0.0, 1.0], 2.0),  # saddle point
    ],
)
@pytest.mark.parametrize("method", ["simplex", "highs"])
def test_known_answers(A, row, col, value, method):
    eq = solve_zero_sum(A, method=method)
    np.testing.assert_allclose(eq.row, row, atol=1e-7)
    np.testing.assert_allclose(eq.col, col, atol=1e-7)
    assert eq.value == pytest.approx(value, abs=1e-9)


@pytest.mark.parametrize("shape", SHAPES + [(120, 90)])
def test_simplex_kernel_matches_numpy_reference(shape):
    A = np.random.default_rng(7).uniform(-2, 3, size=shape)
    priority = np.zeros(shape[1], dtype=np.bool_)
    x, y, v, pivots = simplex_game(A, priority)
    xr, yr, vr, pivots_r = simplex_game_reference(A, priority)
    assert pivots == pivots_r
    np.testing.assert_allclose(x, xr, atol=1e-10)
    np.testing.assert_allclose(y, yr, atol=1e-10)
    assert v == pytest.approx(vr, abs=1e-10)


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (10, 10), (7, 12), (30, 30)])
def test_batch_matches_highs_and_one_by_one(highs_value, shape):
    As = np.random.default_rng(3).normal(size=(50, *shape))
    rows, cols, values, gaps = solve_zero_sum_batch(As)
    assert rows.shape == (50, shape[0]) and cols.shape == (50, shape[1])
    assert values.shape == gaps.shape == (50,)
    assert np.all(gaps <= 1e-8)
    for b in range(0, 50, 7):
        assert values[b] == pytest.approx(highs_value(As[b]), abs=1e-8)
        eq = solve_zero_sum(As[b], method="simplex")
        np.testing.assert_allclose(rows[b], eq.row, atol=1e-12)
        np.testing.assert_allclose(cols[b], eq.col, atol=1e-12)


def test_batch_warm_start_gives_the_same_values():
    rng = np.random.default_rng(11)
    As = rng.normal(size=(40, 8, 8))
    rows, cols, values, _ = solve_zero_sum_batch(As)
    perturbed = As + 1e-3 * rng.normal(size=As.shape)
    _, _, warm_values, warm_gaps = solve_zero_sum_batch(perturbed, warm_start=(rows, cols))
    _, _, cold_values, _ = solve_zero_sum_batch(perturbed)
    np.testing.assert_allclose(warm_values, cold_values, atol=1e-10)
    assert np.all(warm_gaps <= 1e-8)


@pytest.mark.parametrize(
    "A, message",
    [
        ([[1.0, np.nan]], "NaN"),
        ([[1.0, np.inf]], "inf"),
        (np.zeros((0, 3)), "empty"),
        ([[1.0, 2.0], [3.0]], "ragged"),
        ([1.0, 2.0], "2-dimensional"),
    ],
)
def test_bad_input_names_the_problem(A, message):
    with pytest.raises(ValueError, match=message):
        solve_zero_sum(A)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="method"):
        solve_zero_sum(RPS, method="magic")
    with pytest.raises(ValueError, match="tol"):
        solve_zero_sum(RPS, tol=-1.0)
    with pytest.raises(ValueError, match="3-dimensional"):
        solve_zero_sum_batch(RPS)
    with pytest.raises(ValueError, match="warm_start"):
        solve_zero_sum_batch(RPS[None], warm_start=(np.ones((1, 3)), np.ones((2, 3))))


def preference_game(n, seed, scale=1.0, noise=2.0):
    """Bradley-Terry strengths plus skew-symmetric intransitive noise, as ``P - 1/2``."""
    rng = np.random.default_rng(seed)
    s = rng.normal(scale=scale, size=n)
    E = rng.normal(scale=noise, size=(n, n))
    P = 1.0 / (1.0 + np.exp(-(s[:, None] - s[None, :] + (E - E.T) / np.sqrt(2))))
    np.fill_diagonal(P, 0.5)
    return P - 0.5


@pytest.mark.parametrize("method", ["prm+", "double_oracle", "prm+/double_oracle", "auto"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (30, 20), (150, 150), (300, 200)])
def test_iterative_methods_match_highs(highs_value, method, shape):
    A = np.random.default_rng(sum(shape)).uniform(-1, 1, size=shape)
    tol = 1e-5
    eq = solve_zero_sum(A, tol=tol, method=method)
    assert eq.gap <= tol
    assert eq.value == pytest.approx(highs_value(A), abs=tol)
    assert_equilibrium(A, eq.row, eq.col, eq.value, tol)


@pytest.mark.parametrize("seed", range(4))
def test_restricted_game_grown_warm_equals_solved_cold(highs_value, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(60, 50))
    game = RestrictedGame(A, rng.choice(60, 10, replace=False), rng.choice(50, 8, replace=False))
    for _ in range(4):
        rows = np.setdiff1d(rng.choice(60, 6, replace=False), game.rows)
        cols = np.setdiff1d(rng.choice(50, 6, replace=False), game.cols)
        game.add(rows, cols)
        x, y, value = game.solution()
        sub = A[np.ix_(game.rows, game.cols)]
        assert value == pytest.approx(highs_value(sub), abs=1e-10)
        assert_equilibrium(sub, x, y, value, 1e-10)


@pytest.mark.parametrize("shape", [(2, 2), (40, 60), (250, 250), (320, 180)])
@pytest.mark.parametrize("seed", [0, 1])
def test_prm_double_oracle_is_exact_on_dense_games(highs_value, shape, seed):
    A = np.random.default_rng(seed).normal(size=shape)
    eq = solve_zero_sum(A, tol=1e-9, method="prm+/double_oracle")
    assert eq.method == "prm+/double_oracle" and eq.gap <= 1e-9
    assert eq.value == pytest.approx(highs_value(A), abs=1e-8)
    assert_equilibrium(A, eq.row, eq.col, eq.value, 1e-9)


def test_prm_double_oracle_on_symmetric_games_and_from_a_warm_start():
    A = preference_game(300, 3, noise=4.0)
    eq = solve_zero_sum(A, tol=1e-9, method="prm+/double_oracle")
    np.testing.assert_array_equal(eq.row, eq.col)
    assert eq.gap <= 1e-9 and eq.value == pytest.approx(0.0, abs=1e-12)
    B = np.random.default_rng(6).normal(size=(200, 210))
    first = solve_zero_sum(B, tol=1e-9, method="prm+/double_oracle")
    again = solve_zero_sum(B, tol=1e-9, method="prm+/double_oracle", warm_start=first)
    assert again.gap <= 1e-9 and again.value == pytest.approx(first.value, abs=1e-9)


@pytest.mark.parametrize("symmetric", [False, True])
def test_prm_plus_kernel_matches_numpy_reference(symmetric):
    A = preference_game(40, 0) if symmetric else np.random.default_rng(5).normal(size=(40, 25))
    m, n = A.shape
    state = PRMState(np.full(m, 1.0 / m), np.full(n, 1.0 / n), symmetric)
    state.run(A, 60, 0.0)
    x, y = state.average()
    xr, yr = prm_plus_reference(A, 60, symmetric)
    np.testing.assert_allclose(x, xr, atol=1e-12)
    np.testing.assert_allclose(y, yr, atol=1e-12)
    assert state.gap == pytest.approx((A @ y).max() - (x @ A).min(), abs=1e-12)


def test_symmetric_games_give_symmetric_equilibria():
    A = preference_game(400, 1)
    for method in ("double_oracle", "prm+"):
        eq = solve_zero_sum(A, tol=1e-4, method=method)
        np.testing.assert_array_equal(eq.row, eq.col)
        assert eq.gap <= 1e-4 and eq.value == pytest.approx(0.0, abs=1e-12)
    exact = solve_zero_sum(A, method="double_oracle", tol=1e-12)
    assert exact.gap <= 1e-12
    assert np.count_nonzero(exact.row) < 60  # the small support double oracle exploits


@pytest.mark.parametrize(
    "A, tol, method",
    [
        (np.random.default_rng(0).normal(size=(20, 30)), 1e-6, "simplex"),
        (preference_game(500, 2), 1e-8, "double_oracle"),
        (np.random.default_rng(1).normal(size=(450, 420)), 1e-8, "prm+/double_oracle"),
        (np.random.default_rng(2).normal(size=(450, 420)), 1e-3, "prm+"),
    ],
)
def test_auto_says_which_method_it_chose(A, tol, method):
    eq = solve_zero_sum(A, tol=tol)
    assert eq.method == method
    assert eq.gap <= tol


def test_budgets_stop_iterative_methods_with_an_honest_gap():
    A = np.random.default_rng(3).normal(size=(200, 150))
    eq = solve_zero_sum(A, tol=1e-12, method="prm+", max_iter=10)
    assert eq.iterations == 10
    assert eq.gap == pytest.approx((A @ eq.col).max() - (eq.row @ A).min())
    assert eq.gap > 1e-12
    eq = solve_zero_sum(A, tol=1e-12, method="double_oracle", max_iter=2)
    assert eq.iterations == 2


def test_warm_start_from_a_previous_equilibrium():
    A = np.random.default_rng(4).normal(size=(120, 100))
    first = solve_zero_sum(A, tol=1e-4, method="prm+")
    B = A + 1e-4 * np.random.default_rng(5).normal(size=A.shape)
    for method in ("simplex", "double_oracle", "prm+"):
        eq = solve_zero_sum(B, tol=1e-4, method=method, warm_start=first)
        assert eq.gap <= 1e-4
    with pytest.raises(ValueError, match="warm_start row strategy"):
        solve_zero_sum(A, warm_start=(np.ones(3) / 3, first.col))


@settings(max_examples=40)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 8), st.integers(1, 8)),
        elements=st.floats(-10, 10, allow_nan=False),
    )
)
def test_properties_of_exact_solutions(A):
    eq = solve_zero_sum(A, method="simplex")
    Ay, xA = A @ eq.col, eq.row @ A
    assert eq.gap >= 0.0
    assert xA.min() - 1e-9 <= eq.value <= Ay.max() + 1e-9
    assert eq.gap <= 1e-9 * (1.0 + np.abs(A).max())
    for p in (eq.row, eq.col):
        assert np.all(p >= 0) and p.sum() == pytest.approx(1.0)


@settings(max_examples=20)
@given(
    st.integers(1, 6),
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(0, 2**31 - 1),
)
def test_batch_equals_one_by_one(m, n, B, seed):
    As = np.round(np.random.default_rng(seed).normal(size=(B, m, n)), 1)  # ties on purpose
    rows, cols, values, gaps = solve_zero_sum_batch(As)
    for b in range(B):
        eq = solve_zero_sum(As[b], method="simplex")
        np.testing.assert_array_equal(rows[b], eq.row)
        np.testing.assert_array_equal(cols[b], eq.col)
        assert values[b] == pytest.approx(eq.value, abs=1e-12)
        assert 0.0 <= gaps[b] <= 1e-9


def test_thread_count_is_configurable_and_does_not_change_answers():
    import numba

    from metagame import solvers

    As = np.random.default_rng(9).normal(size=(64, 6, 6))
    expected = solve_zero_sum_batch(As)
    previous = solvers.set_num_threads(1)
    try:
        assert numba.get_num_threads() == 1
        for got, want in zip(solve_zero_sum_batch(As), expected):
            np.testing.assert_array_equal(got, want)
    finally:
        solvers.set_num_threads(previous)
    with pytest.raises(ValueError, match="threads"):
        solvers.set_num_threads(0)
    with pytest.raises(ValueError, match="threads"):
        solvers.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)


def test_package_exports_and_lazy_names():
    from metagame import solvers

    assert solvers.minimax_winner.__module__ == "metagame.solvers.preference"
    assert solvers.solve_regularized.__module__ == "metagame.solvers.regularized"
    assert set(solvers.__all__) >= {
        "solve_zero_sum", "solve_zero_sum_batch", "Equilibrium", "set_num_threads",
        "solve_bimatrix", "correlated_equilibrium", "alpharank", "replicator_dynamics",
        "nash_conv", "exploitability", "solve_markov_game", "markov_exploitability",
        "solve_extensive",
    }  # fmt: skip
    with pytest.raises(AttributeError, match="no attribute"):
        solvers.not_a_solver  # noqa: B018
