"""The solvers' matrix-vector kernels against NumPy, on one thread and on several alike."""

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame import solvers
from metagame.solvers import solve_zero_sum
from metagame.solvers._linalg import BLOCKS, PARALLEL_MIN_ENTRIES, _mat_vec_band, mat_vec, vec_mat
from metagame.solvers._rm import PRMState
from metagame.solvers._simplex import simplex_batch
from metagame.solvers._threads import ThreadChoice


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


@pytest.mark.parametrize("m, n, zero_fraction", LARGE)
@pytest.mark.parametrize("threads", [2, 3, 5])
def test_products_on_threads_equal_the_calling_thread_bit_for_bit(m, n, zero_fraction, threads):
    rng = np.random.default_rng(m * n)
    A = rng.normal(size=(m, n))
    x, y = sparse_strategy(rng, m, zero_fraction), rng.random(n)
    Ay, xA, Ay_one, xA_one = (np.empty(m), np.empty(n), np.empty(m), np.empty(n))
    mat_vec(A, y, Ay, threads)
    vec_mat(x, A, xA, threads)
    mat_vec(A, y, Ay_one, 1)
    vec_mat(x, A, xA_one, 1)
    np.testing.assert_allclose(Ay, A @ y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(xA, x @ A, rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(Ay_one, Ay)
    np.testing.assert_array_equal(xA_one, xA)


@pytest.mark.parametrize("symmetric", [False, True])
def test_threaded_prm_plus_repeats_the_kernel_step_for_step(symmetric):
    A = np.random.default_rng(6).normal(size=(520, 520))
    if symmetric:
        A = A - A.T
    states = [PRMState(np.full(520, 1 / 520), np.full(520, 1 / 520), symmetric) for _ in range(2)]
    for threads, state in zip((1, 2), states):
        for _ in range(3):
            state.run(A, 7, 1e-12, threads)
    assert states[0].t == states[1].t == 21
    for a, b in zip(states[0].average(), states[1].average()):
        np.testing.assert_array_equal(a, b)
    assert states[0].gap == states[1].gap


def test_simplex_batch_on_threads_equals_one_thread():
    As = np.random.default_rng(8).normal(size=(203, 4, 5))
    priority = np.zeros((203, 5), dtype=np.bool_)
    for got, want in zip(simplex_batch(As, priority, 3), simplex_batch(As, priority, 1)):
        np.testing.assert_array_equal(got, want)


def solve_on_threads(threads, A):
    return with_threads(threads, solve_zero_sum, A, 1e-6, "auto", 40)


@settings(max_examples=12, deadline=None)
@given(
    m=st.integers(450, 700),
    n=st.integers(450, 700),
    seed=st.integers(0, 2**16),
    zero_fraction=st.sampled_from([0.0, 0.9]),
)
def test_answers_do_not_depend_on_the_threads_or_on_probes(m, n, seed, zero_fraction):
    """Products, PRM+ and the whole solver give the same numbers on one thread, on two, and
    when the thread count is left to the probes (a probe splits a call between both)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(m, n))
    x, y = sparse_strategy(rng, m, zero_fraction), rng.random(n)
    one = np.empty(m), np.empty(n)
    mat_vec(A, y, one[0], 1)
    vec_mat(x, A, one[1], 1)
    probed = np.empty(m), np.empty(n)
    ThreadChoice(2).probe(lambda b: _mat_vec_band(A, y, probed[0], b), BLOCKS)
    for threads in (2, None):
        got = np.empty(m), np.empty(n)
        mat_vec(A, y, got[0], threads)
        vec_mat(x, A, got[1], threads)
        np.testing.assert_array_equal(got[0], one[0])
        np.testing.assert_array_equal(got[1], one[1])
    np.testing.assert_array_equal(probed[0], one[0])
    states = [PRMState(np.full(m, 1 / m), np.full(n, 1 / n), False) for _ in range(3)]
    for threads, state in zip((1, 2, None), states):
        state.run(A, 5, 1e-12, threads)
    for state in states[1:]:
        assert state.t == states[0].t and state.gap == states[0].gap
        for a, b in zip(state.average(), states[0].average()):
            np.testing.assert_array_equal(a, b)
    eq_one, eq_two = solve_on_threads(1, A), solve_on_threads(2, A)
    assert eq_one.method == eq_two.method
    np.testing.assert_array_equal(eq_one.row, eq_two.row)
    np.testing.assert_array_equal(eq_one.col, eq_two.col)
    assert eq_one.gap == eq_two.gap


@settings(max_examples=10, deadline=None)
@given(
    B=st.integers(2_500, 5_000),
    m=st.integers(9, 12),
    n=st.integers(9, 12),
    seed=st.integers(0, 99),
)
def test_large_batches_do_not_depend_on_the_threads(B, m, n, seed):
    As = np.random.default_rng(seed).normal(size=(B, m, n))
    assert As.size >= PARALLEL_MIN_ENTRIES  # large enough for the probes to decide
    priority = np.zeros((B, n), dtype=np.bool_)
    want = simplex_batch(As, priority, 1)
    for threads in (2, None):
        for got, expected in zip(simplex_batch(As, priority, threads), want):
            np.testing.assert_array_equal(got, expected)
