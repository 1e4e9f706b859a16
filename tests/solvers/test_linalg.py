"""The solvers' matrix-vector kernels against NumPy, serial and banded-parallel alike."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame import solvers
from metagame.solvers import solve_zero_sum
from metagame.solvers._linalg import PARALLEL_MIN_ENTRIES, mat_vec, vec_mat


def products(A, x, y):
    Ay, xA = np.empty(A.shape[0]), np.empty(A.shape[1])
    mat_vec(A, y, Ay)
    vec_mat(x, A, xA)
    return Ay, xA


def with_threads(threads, f, *args):
    previous = solvers.set_num_threads(threads)
    try:
        assert numba.get_num_threads() == threads
        return f(*args)
    finally:
        solvers.set_num_threads(previous)


def sparse_strategy(rng, size, zero_fraction):
    x = rng.random(size)
    x[rng.random(size) < zero_fraction] = 0.0
    return x


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 40),
    n=st.integers(1, 40),
    zero_fraction=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_small_products_equal_numpy(m, n, zero_fraction, seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    x, y = sparse_strategy(rng, m, zero_fraction), rng.random(n)
    Ay, xA = products(A, x, y)
    np.testing.assert_allclose(Ay, A @ y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xA, x @ A, rtol=1e-12, atol=1e-12)


# Above the parallel threshold: bands of rows that come out even, uneven, or empty (fewer rows
# than bands); for x^T A also a support too small to go parallel, and an all-zero x.
LARGE = [(450, 451, 0.0), (1001, 401, 0.3), (17, 20_000, 0.0), (20_000, 40, 0.99), (2003, 997, 1.0)]


@pytest.mark.parametrize("m, n, zero_fraction", LARGE)
def test_banded_products_equal_numpy_and_do_not_depend_on_the_thread_count(m, n, zero_fraction):
    assert m * n >= PARALLEL_MIN_ENTRIES
    rng = np.random.default_rng(m + n)
    A = rng.normal(size=(m, n))
    x, y = sparse_strategy(rng, m, zero_fraction), rng.random(n)
    Ay, xA = with_threads(2, products, A, x, y)
    Ay_one, xA_one = with_threads(1, products, A, x, y)
    np.testing.assert_allclose(Ay, A @ y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xA, x @ A, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(Ay_one, Ay)
    np.testing.assert_array_equal(xA_one, xA)


def test_prm_plus_on_a_large_game_does_not_depend_on_the_thread_count():
    A = np.random.default_rng(5).normal(size=(600, 500))
    eq = with_threads(2, solve_zero_sum, A, 1e-6, "prm+", 200)
    one = with_threads(1, solve_zero_sum, A, 1e-6, "prm+", 200)
    np.testing.assert_array_equal(one.row, eq.row)
    np.testing.assert_array_equal(one.col, eq.col)
    assert one.gap == eq.gap > 0.0
