"""Correlated equilibria: every incentive constraint holds (checked by brute force), the welfare
optimum equals the best vertex of the CE polytope found by enumeration, known games, bad input."""

import itertools

import nashpy
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.solvers.correlated import correlated_equilibrium

CHICKEN = np.array([[6.0, 2.0], [7.0, 0.0]])  # action 0 = swerve, 1 = dare


def brute_violation(tensor, p, coarse):
    """Largest incentive-constraint gain by explicit loops over players, actions and profiles."""
    shape = tensor.shape[1:]
    worst = -np.inf
    for i, k in enumerate(shape):
        for dev in range(k):
            recs = [None] if coarse else range(k)
            for rec in recs:
                if rec == dev:
                    continue
                gain = 0.0
                for a in itertools.product(*(range(s) for s in shape)):
                    if rec is not None and a[i] != rec:
                        continue
                    b = list(a)
                    b[i] = dev
                    gain += p[a] * (tensor[(i, *b)] - tensor[(i, *a)])
                worst = max(worst, gain)
    return worst


def constraint_rows(tensor, coarse):
    """Incentive constraints as dense rows, built independently of the solver's sparse ones."""
    shape = tensor.shape[1:]
    profiles = list(itertools.product(*(range(s) for s in shape)))
    rows = []
    for i, k in enumerate(shape):
        for dev in range(k):
            for rec in [None] if coarse else [r for r in range(k) if r != dev]:
                row = []
                for a in profiles:
                    b = list(a)
                    b[i] = dev
                    active = rec is None or a[i] == rec
                    row.append(tensor[(i, *b)] - tensor[(i, *a)] if active else 0.0)
                rows.append(row)
    return np.array(rows)


def brute_best_welfare(tensor, coarse):
    """Max welfare over the vertices of {p >= 0, sum p = 1, G p <= 0} by vertex enumeration."""
    G = constraint_rows(tensor, coarse)
    size = G.shape[1]
    ineq = np.vstack([G, -np.eye(size)])
    welfare = tensor.reshape(tensor.shape[0], size).sum(axis=0)
    best = -np.inf
    for active in itertools.combinations(range(len(ineq)), size - 1):
        system = np.vstack([ineq[list(active)], np.ones(size)])
        if abs(np.linalg.det(system)) < 1e-10:
            continue
        p = np.linalg.solve(system, np.append(np.zeros(size - 1), 1.0))
        if (ineq @ p <= 1e-9).all():
            best = max(best, welfare @ p)
    return best


def test_chicken_known_answer():
    ce = correlated_equilibrium((CHICKEN, CHICKEN.T))
    np.testing.assert_allclose(ce.distribution, [[0.5, 0.25], [0.25, 0.0]], atol=1e-9)
    np.testing.assert_allclose(ce.values, [5.25, 5.25], atol=1e-9)
    assert ce.welfare == pytest.approx(10.5)
    assert ce.max_violation < 1e-9
    np.testing.assert_allclose(ce.marginals()[0], [0.75, 0.25], atol=1e-9)


@pytest.mark.parametrize("coarse", [False, True])
@pytest.mark.parametrize("shape", [(2, 2), (2, 3), (2, 2, 2)])
@pytest.mark.parametrize("seed", range(3))
def test_welfare_optimum_matches_vertex_enumeration(shape, seed, coarse):
    rng = np.random.default_rng(seed)
    tensor = rng.integers(-4, 5, size=(len(shape), *shape)).astype(float)
    ce = correlated_equilibrium(tensor, coarse=coarse)
    assert ce.welfare == pytest.approx(brute_best_welfare(tensor, coarse), abs=1e-7)
    assert brute_violation(tensor, ce.distribution, coarse) <= 1e-9
    assert ce.max_violation == pytest.approx(
        max(brute_violation(tensor, ce.distribution, coarse), 0.0), abs=1e-12
    )


@given(
    shape=st.lists(st.integers(1, 3), min_size=2, max_size=3),
    seed=st.integers(0, 2**16),
    objective=st.sampled_from(["welfare", "egalitarian", "none"]),
)
def test_every_incentive_constraint_holds(shape, seed, objective):
    rng = np.random.default_rng(seed)
    tensor = rng.standard_normal((len(shape), *shape))
    ce = correlated_equilibrium(tensor, objective=objective)
    cce = correlated_equilibrium(tensor, coarse=True, objective=objective)
    for eq, coarse in ((ce, False), (cce, True)):
        p = eq.distribution
        assert p.shape == tuple(shape) and p.min() >= 0 and p.sum() == pytest.approx(1.0)
        assert brute_violation(tensor, p, coarse) <= 1e-8
        assert 0 <= eq.max_violation <= 1e-8
        np.testing.assert_allclose(
            eq.values, [(tensor[i] * p).sum() for i in range(len(shape))], atol=1e-12
        )
    if objective == "welfare":  # CE is a subset of CCE
        assert cce.welfare >= ce.welfare - 1e-7


@pytest.mark.parametrize("seed", range(4))
def test_nash_equilibria_are_dominated_in_welfare_and_egalitarian_value(seed):
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((2, 3, 3))
    welfare = correlated_equilibrium((A, B))
    egalitarian = correlated_equilibrium((A, B), objective="egalitarian")
    for x, y in nashpy.Game(A, B).vertex_enumeration():
        values = np.array([x @ A @ y, x @ B @ y])
        assert welfare.welfare >= values.sum() - 1e-7
        assert egalitarian.values.min() >= values.min() - 1e-7
    assert egalitarian.values.min() >= welfare.values.min() - 1e-7


@pytest.mark.parametrize(
    ("payoffs", "kwargs", "match"),
    [
        (CHICKEN, {}, "expected \\(N, A_1"),
        ((CHICKEN, CHICKEN), {"objective": "utilitarian"}, "objective must be"),
        ((CHICKEN, np.full((2, 2), np.nan)), {}, "NaN"),
        ((CHICKEN, np.zeros((2, 3))), {}, "differ in shape"),
    ],
)
def test_bad_input(payoffs, kwargs, match):
    with pytest.raises(ValueError, match=match):
        correlated_equilibrium(payoffs, **kwargs)
