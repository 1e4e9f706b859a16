"""Replicator dynamics and alpha-rank: against OpenSpiel's PRD and alpha-rank on the same
inputs, known rest points, the Numba kernel against its NumPy reference, properties, bad input."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from open_spiel.python.algorithms import projected_replicator_dynamics as openspiel_prd
from open_spiel.python.egt import alpharank as openspiel_alpharank

from metagame.solvers import evolutionary as ev
from metagame.solvers.evolutionary import (
    alpharank,
    project_simplex,
    projected_replicator_dynamics,
    replicator_dynamics,
    replicator_n_population,
    replicator_reference,
    replicator_two_population,
)

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
HAWK_DOVE = np.array([[-1.0, 2.0], [0.0, 1.0]])  # V = 2, C = 4: ESS plays hawk w.p. V/C = 1/2


def openspiel_pi(tables, **kwargs):
    return openspiel_alpharank.compute([np.asarray(t) for t in tables], **kwargs)[2]


# ------------------------------------------------------------------------ replicator dynamics


def test_rock_paper_scissors_rest_points():
    uniform = np.full(3, 1 / 3)
    res = replicator_dynamics(RPS, x0=uniform, steps=500)
    np.testing.assert_allclose(res.strategies[0], uniform, atol=1e-15)
    assert res.nash_conv < 1e-12
    for k in range(3):  # pure strategies are rest points too (but not equilibria)
        pure = np.eye(3)[k]
        res = replicator_dynamics(RPS, x0=pure, steps=100)
        np.testing.assert_array_equal(res.strategies[0], pure)
        assert res.nash_conv == pytest.approx(2.0)
    # from the interior the orbit cycles around the equilibrium: its time average approaches it
    res = replicator_dynamics(RPS, x0=[0.5, 0.3, 0.2], steps=20_000, dt=0.01)
    np.testing.assert_allclose(res.average[0], uniform, atol=0.01)
    assert res.average_nash_conv < 0.02 < res.nash_conv


def test_single_population_converges_to_the_ess():
    res = replicator_dynamics(HAWK_DOVE, x0=[0.9, 0.1], steps=5_000, dt=0.05)
    np.testing.assert_allclose(res.strategies[0], [0.5, 0.5], atol=1e-6)
    assert res.nash_conv < 1e-5


def test_two_populations_dominance_and_coordination():
    pd = np.array([[3.0, 0.0], [5.0, 1.0]])  # defect (1) strictly dominates
    res = replicator_dynamics((pd, pd.T), x0=[[0.99, 0.01], [0.99, 0.01]], steps=5_000, dt=0.05)
    assert res.strategies[0][1] > 0.999 and res.strategies[1][1] > 0.999
    coordination = np.array([[2.0, 0.0], [0.0, 1.0]])  # mixed rest point at (1/3, 2/3)
    for start, target in (([0.4, 0.6], 0), ([0.3, 0.7], 1)):
        res = replicator_dynamics(
            (coordination, coordination), x0=[start, start], steps=5_000, dt=0.05
        )
        assert res.strategies[0][target] > 0.999 and res.strategies[1][target] > 0.999


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2)])
def test_projected_replicator_dynamics_matches_openspiel(shape):
    rng = np.random.default_rng(len(shape))
    tensor = rng.standard_normal((len(shape), *shape))
    ours = projected_replicator_dynamics(tensor, steps=2_000, dt=0.01, gamma=1e-3)
    theirs = openspiel_prd.projected_replicator_dynamics(
        list(tensor), prd_iterations=2_000, prd_dt=0.01, prd_gamma=1e-3
    )
    for a, b in zip(ours.average, theirs):
        np.testing.assert_allclose(a, b, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_numba_kernel_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    tensor = rng.standard_normal((2, 4, 3))
    x, y = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(3))
    fast = replicator_two_population(
        tensor[0], np.ascontiguousarray(tensor[1].T), x, y, 500, 0.02, 0.01
    )
    last, average = replicator_reference(tensor, [x, y], 500, 0.02, 0.01)
    for a, b in zip(fast, [*last, *average]):
        np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 2), (3, 2, 2, 2), (1, 3, 2)])
def test_n_population_kernel_matches_numpy_reference(shape):
    rng = np.random.default_rng(len(shape))
    tensor = rng.standard_normal((len(shape), *shape))
    profile = [rng.dirichlet(np.ones(k)) for k in shape]
    sizes = np.array(shape, dtype=np.int64)
    last, average = replicator_n_population(
        tensor.reshape(len(shape), -1), sizes, np.concatenate(profile), 500, 0.02, 0.01
    )
    ref_last, ref_average = replicator_reference(tensor, profile, 500, 0.02, 0.01)
    np.testing.assert_allclose(last, np.concatenate(ref_last), atol=1e-12)
    np.testing.assert_allclose(average, np.concatenate(ref_average), atol=1e-12)


@given(
    v=st.lists(st.floats(-3, 3), min_size=1, max_size=8),
    gamma_fraction=st.floats(0, 1),
)
@example(v=[2.0], gamma_fraction=1.0)  # the floor fills the simplex: the one point (1,)
@example(v=[0.5, -1.0, 3.0], gamma_fraction=1.0)
def test_simplex_projection(v, gamma_fraction):
    v = np.array(v)
    gamma = gamma_fraction / len(v)
    x = project_simplex(v, gamma)
    assert x.sum() == pytest.approx(1.0) and x.min() >= gamma - 1e-12
    # optimality: no feasible point of a small random family is closer to v
    rng = np.random.default_rng(len(v))
    for _ in range(20):
        z = gamma + (1 - len(v) * gamma) * rng.dirichlet(np.ones(len(v)))
        assert np.linalg.norm(x - v) <= np.linalg.norm(z - v) + 1e-9


@given(seed=st.integers(0, 2**16), n=st.integers(1, 5), gamma_fraction=st.floats(0, 0.5))
def test_replicator_properties(seed, n, gamma_fraction):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    gamma = gamma_fraction / n
    res = replicator_dynamics(A, x0=rng.dirichlet(np.ones(n)), steps=200, dt=0.05, gamma=gamma)
    for x in (*res.strategies, *res.average):
        assert x.shape == (n,) and x.sum() == pytest.approx(1.0)
        assert x.min() >= gamma - 1e-12
    assert res.nash_conv >= 0 and res.average_nash_conv >= 0


# ------------------------------------------------------------------------------- alpha-rank


@pytest.mark.parametrize("local_selection", [True, False])
@pytest.mark.parametrize("alpha", [0.1, 2.0, 8.0])  # OpenSpiel's eig fails beyond
def test_single_population_matches_openspiel(alpha, local_selection):
    rng = np.random.default_rng(7)
    A = rng.standard_normal((6, 6))
    ours = alpharank(A, alpha=alpha, population_size=20, local_selection=local_selection)
    theirs = openspiel_pi([A], m=20, alpha=alpha, use_local_selection_model=local_selection)
    np.testing.assert_allclose(ours.pi, theirs, atol=1e-10)
    assert ours.residual < 1e-12


def test_constant_sum_single_population_matches_openspiel():
    rng = np.random.default_rng(3)
    M = rng.uniform(size=(5, 5))
    P = np.triu(M, 1) + np.tril(1 - M.T, -1) + 0.5 * np.eye(5)  # P + P^T = 1
    ours = alpharank(P, alpha=5.0, population_size=30, local_selection=False)
    np.testing.assert_allclose(
        ours.pi, openspiel_pi([P], m=30, alpha=5.0, use_local_selection_model=False), atol=1e-10
    )


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), (2, 2, 2, 2)])
@pytest.mark.parametrize("alpha", [0.5, 10.0, np.inf])
def test_multi_population_matches_openspiel(shape, alpha):
    rng = np.random.default_rng(sum(shape))
    tensor = rng.standard_normal((len(shape), *shape))
    ours = alpharank(tensor, alpha=alpha, population_size=15)
    kwargs = {"use_inf_alpha": True, "inf_alpha_eps": 0.01} if np.isinf(alpha) else {}
    theirs = openspiel_pi(list(tensor), m=15, alpha=alpha, **kwargs)
    np.testing.assert_allclose(ours.pi, theirs, atol=1e-10)
    grid = ours.pi.reshape(shape)
    np.testing.assert_allclose(ours.marginals[0], grid.reshape(shape[0], -1).sum(axis=1))
    assert ours.shape == shape and ours.residual < 1e-12


def test_known_rankings():
    # rock-paper-scissors: symmetric cycle -> uniform
    np.testing.assert_allclose(alpharank(RPS, alpha=10.0).pi, np.full(3, 1 / 3), atol=1e-12)
    # a transitive game: strategy 2 beats both others, so it holds nearly all the mass
    transitive = np.array([[0.0, -1.0, -1.0], [1.0, 0.0, -1.0], [1.0, 1.0, 0.0]])
    res = alpharank(transitive, alpha=10.0)
    assert res.ranking[0] == 2 and res.pi[2] > 0.99
    # prisoner's dilemma as two populations: (defect, defect) = profile id 3 takes the mass
    pd = np.array([[3.0, 0.0], [5.0, 1.0]])
    res = alpharank((pd, pd.T), alpha=10.0)
    assert res.ranking[0] == 3 and res.pi[3] > 0.99
    # battle of the sexes: two strict equilibria that the chain leaves only w.p. ~1e-213; swapping
    # players and actions maps the game to itself, so they must share the mass equally
    res = alpharank(([[2.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 2.0]]), alpha=10.0)
    np.testing.assert_allclose(res.pi, [0.5, 0.0, 0.0, 0.5], atol=1e-12)


@given(seed=st.integers(0, 2**16), n=st.integers(1, 6), shift=st.floats(-5, 5))
def test_alpharank_properties(seed, n, shift):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    res = alpharank(A, alpha=3.0, population_size=10)
    assert res.pi.sum() == pytest.approx(1.0) and res.pi.min() >= 0 and res.residual < 1e-10
    # invariant to a constant added to all payoffs; equivariant under relabelling strategies
    np.testing.assert_allclose(
        alpharank(A + shift, alpha=3.0, population_size=10).pi, res.pi, atol=1e-9
    )
    perm = rng.permutation(n)
    permuted = alpharank(A[np.ix_(perm, perm)], alpha=3.0, population_size=10)
    np.testing.assert_allclose(permuted.pi, res.pi[perm], atol=1e-9)


def test_large_population_of_strategies():
    """A few hundred strategies (the league's meta-game size): sparse solve, exact balance."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((300, 300))
    res = alpharank(M - M.T, alpha=5.0)
    assert res.residual < 1e-10 and res.pi.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [0.5, 3.0])
def test_arnoldi_agrees_with_direct_solve(alpha):
    rng = np.random.default_rng(11)
    tensor = rng.standard_normal((2, 12, 15))
    direct = alpharank(tensor, alpha=alpha, method="direct")
    arnoldi = alpharank(tensor, alpha=alpha, method="arnoldi")
    np.testing.assert_allclose(arnoldi.pi, direct.pi, atol=1e-10)
    assert arnoldi.residual < 1e-10


def _stationary_in_high_precision(generator, digits=250):
    """pi Q = 0, sum pi = 1 by Gaussian elimination in ``digits``-digit arithmetic (mpmath),
    with one balance equation replaced by the normalization: an independent reference (the
    digits absorb the cancellation that defeats this method in float64)."""
    import mpmath

    mpmath.mp.dps = digits
    Q = generator.toarray()
    n = Q.shape[0]
    M = mpmath.matrix(n, n)
    for j in range(n - 1):
        for i in range(n):
            M[j, i] = mpmath.mpf(Q[i, j])
    for i in range(n):
        M[n - 1, i] = 1
    b = mpmath.matrix(n, 1)
    b[n - 1] = 1
    return np.array([float(v) for v in mpmath.lu_solve(M, b)])


@pytest.mark.parametrize("alpha", [10.0, 100.0])
def test_nearly_reducible_chain_matches_high_precision(alpha):
    # two populations whose classes of profiles exchange mass at rates down to 1e-177: the
    # stationary masses span hundreds of orders of magnitude
    tensor = np.random.default_rng(4).normal(size=(2, 10, 10))
    generator = ev._generator(tensor, False, alpha, 50, True, 0.01)
    assert len(ev._closed_classes(generator, ev.NEARLY_ABSENT)) > 1
    exact = _stationary_in_high_precision(generator)
    res = alpharank(tensor, alpha=alpha)
    np.testing.assert_allclose(res.pi, exact, rtol=1e-12, atol=0.0)  # relative, entry by entry
    with pytest.raises(ValueError, match="nearly reducible.*method='direct'"):
        alpharank(tensor, alpha=alpha, method="arnoldi")


def test_one_absorbing_profile_takes_all_the_mass():
    # a team game where (0, 0) is far better: at large alpha it is left only at rates that
    # underflow to 0, while every other profile drains into it
    payoffs = np.array([[50.0, 2.0], [0.0, 1.0]])
    res = alpharank((payoffs, payoffs), alpha=100.0)
    np.testing.assert_array_equal(res.pi, [1.0, 0.0, 0.0, 0.0])


def test_underflowing_chain_is_reported():
    with pytest.raises(ValueError, match="numerically reducible"):
        coordination = 1e3 * np.eye(2)  # (0, 0) and (1, 1) both absorb once rho underflows
        alpharank((coordination, coordination), alpha=1e3)


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: replicator_dynamics(np.zeros((2, 3))), "must be square"),
        (lambda: replicator_dynamics(RPS, steps=-1), "steps must be an integer"),
        (lambda: replicator_dynamics(RPS, dt=0.0), "dt must be"),
        (lambda: replicator_dynamics(RPS, gamma=0.5), "gamma must lie"),
        (lambda: replicator_dynamics(RPS, x0=[0.5, 0.5]), "x0 must have length 3"),
        (lambda: replicator_dynamics((RPS, RPS), x0=[0.2, 0.3, 0.5]), "list of 2"),
        (lambda: replicator_dynamics([[1.0, np.nan], [0.0, 0.0]]), "NaN"),
        (lambda: alpharank(RPS, alpha=-1.0), "alpha must be"),
        (lambda: alpharank(RPS, population_size=1), "population_size"),
        (lambda: alpharank(RPS, alpha=np.inf, inf_alpha_eps=0.7), "inf_alpha_eps"),
        (lambda: alpharank(np.zeros((3, 2, 2)), alpha=1.0), "expected \\(N, A_1"),
        (lambda: alpharank(RPS, method="eig"), "method must be"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
