"""solve_bimatrix against nashpy (support enumeration, vertex enumeration, Lemke-Howson) on
random and degenerate games, the Numba path against its pure-Python original, and bad input."""

import warnings
from fractions import Fraction

import nashpy
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.solvers.bimatrix import _positive, lemke_howson_path, solve_bimatrix
from metagame.solvers.normal_form import nash_conv


def random_game(seed, low=2, high=5):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(low, high + 1, size=2)
    return rng.standard_normal((m, n)), rng.standard_normal((m, n))


def degenerate_game(seed):
    rng = np.random.default_rng(seed)
    m, n = rng.integers(2, 6, size=2)
    return rng.integers(0, 3, (m, n)).astype(float), rng.integers(0, 3, (m, n)).astype(float)


def contains(equilibria, x, y):
    return any(
        np.allclose(x, e.row, atol=1e-7) and np.allclose(y, e.col, atol=1e-7) for e in equilibria
    )


def nashpy_quiet(method, A, B, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = getattr(nashpy.Game(A, B), method)(**kwargs)
        return out if isinstance(out, tuple) else list(out)


def test_known_games():
    # battle of the sexes: two pure equilibria and the mixed one (2/3, 1/3), (1/3, 2/3)
    A = np.array([[2.0, 0.0], [0.0, 1.0]])
    B = np.array([[1.0, 0.0], [0.0, 2.0]])
    sol = solve_bimatrix(A, B, method="support_enumeration")
    assert len(sol.equilibria) == 3
    assert contains(sol.equilibria, [2 / 3, 1 / 3], [1 / 3, 2 / 3])
    mixed = next(e for e in sol.equilibria if 0 < e.row[0] < 1)
    assert mixed.row_value == pytest.approx(2 / 3) and mixed.col_value == pytest.approx(2 / 3)
    # rock-paper-scissors as a bimatrix game: unique uniform equilibrium from every label
    rps = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    lh = solve_bimatrix(rps, -rps, initial_dropped_label="all")
    assert len(lh.equilibria) == 1
    np.testing.assert_allclose(lh.row, np.full(3, 1 / 3))
    assert lh.nash_conv < 1e-12
    # prisoner's dilemma: defect/defect only
    pd = np.array([[3.0, 0.0], [5.0, 1.0]])
    sol = solve_bimatrix(pd, pd.T, method="support_enumeration")
    assert len(sol.equilibria) == 1 and contains(sol.equilibria, [0, 1], [0, 1])


@pytest.mark.parametrize("seed", range(12))
def test_support_enumeration_matches_vertex_enumeration(seed):
    A, B = random_game(seed)
    ours = solve_bimatrix(A, B, method="support_enumeration").equilibria
    theirs = nashpy_quiet("vertex_enumeration", A, B)
    assert len(ours) == len(theirs) and len(ours) % 2 == 1  # nondegenerate: odd number
    assert all(contains(ours, x, y) for x, y in theirs)
    # nashpy's own support enumeration (exact float comparisons) may miss some, never add any
    assert all(contains(ours, x, y) for x, y in nashpy_quiet("support_enumeration", A, B))
    assert max(e.nash_conv for e in ours) < 1e-9


@pytest.mark.parametrize("seed", range(20))
def test_lemke_howson_matches_nashpy_on_nondegenerate_games(seed):
    A, B = random_game(seed, high=6)  # nashpy can loop forever on 1 x n games
    m, n = A.shape
    every = nashpy_quiet("vertex_enumeration", A, B)  # defined for nondegenerate games
    for label in range(m + n):
        sol = solve_bimatrix(A, B, initial_dropped_label=label)
        assert any(np.allclose(sol.row, x) and np.allclose(sol.col, y) for x, y in every)
        # the path from a label is unique in a nondegenerate game, so nashpy's Lemke-Howson
        # ends where ours does, whenever its answer is an equilibrium at all (0.0.4x reads the
        # column strategy off its labels in set-iteration order, which can permute it)
        x, y = nashpy_quiet("lemke_howson", A, B, initial_dropped_label=label)
        if nash_conv([A, B], [x, y]) < 1e-9:
            np.testing.assert_allclose(sol.row, x, atol=1e-8)
            np.testing.assert_allclose(sol.col, y, atol=1e-8)
        assert sol.nash_conv < 1e-9
        assert sol.nash_conv == pytest.approx(nash_conv([A, B], [sol.row, sol.col]), abs=1e-15)


@pytest.mark.parametrize("seed", range(25))
def test_degenerate_games(seed):
    """Lexicographic pivoting ends in an equilibrium from every label, where nashpy's
    Lemke-Howson sometimes does not; support enumeration keeps every valid nashpy answer."""
    A, B = degenerate_game(seed)
    lh = solve_bimatrix(A, B, initial_dropped_label="all")
    assert max(e.nash_conv for e in lh.equilibria) < 1e-9
    se = solve_bimatrix(A, B, method="support_enumeration")
    assert max(e.nash_conv for e in se.equilibria) < 1e-9
    for x, y in nashpy_quiet("support_enumeration", A, B):
        if nash_conv([A, B], [x, y]) < 1e-9:
            assert contains(se.equilibria, x, y)


def test_degenerate_textbook_game():
    # von Stengel's degenerate example: the row player's pure strategy 0 has two best responses
    A = np.array([[3.0, 3.0], [2.0, 5.0], [0.0, 6.0]])
    B = np.array([[3.0, 3.0], [2.0, 6.0], [3.0, 1.0]])
    for label in range(5):
        sol = solve_bimatrix(A, B, initial_dropped_label=label)
        assert sol.nash_conv < 1e-12


@pytest.mark.parametrize("seed", range(6))
def test_numba_kernel_matches_python_reference(seed):
    A, B = degenerate_game(seed) if seed % 2 else random_game(seed, high=7)
    Ap, Bp = _positive(A), _positive(B)
    for label in range(sum(A.shape)):
        fast = lemke_howson_path(Ap, Bp, label, 10_000)
        slow = lemke_howson_path.py_func(Ap, Bp, label, 10_000)
        np.testing.assert_allclose(fast[0], slow[0], atol=1e-12)
        np.testing.assert_allclose(fast[1], slow[1], atol=1e-12)
        assert fast[2] == slow[2] > 0


def exact_lemke_howson(A, B, label):
    """Independent reference in exact rational arithmetic, the same lexicographic rule."""
    m, n = len(A), len(A[0])
    one, zero = Fraction(1), Fraction(0)
    tq = [[one if i == k else zero for k in range(m)] + list(A[i]) + [one] for i in range(m)]
    tp = [
        [B[i][j] for i in range(m)] + [one if j == k else zero for k in range(n)] + [one]
        for j in range(n)
    ]
    bases = {True: list(range(m, m + n)), False: list(range(m))}

    def pivot(T, basis, entering, slacks):
        rows = [r for r in range(len(T)) if T[r][entering] > 0]
        best = min(rows, key=lambda r: [T[r][c] / T[r][entering] for c in [-1, *slacks]])
        T[best] = [v / T[best][entering] for v in T[best]]
        for r in range(len(T)):
            if r != best:
                T[r] = [a - T[r][entering] * b for a, b in zip(T[r], T[best])]
        basis[best], leaving = entering, basis[best]
        return leaving

    entering, in_p, pivots = label, label < m, 0
    while True:
        if in_p:
            leaving = pivot(tp, bases[True], entering, range(m, m + n))
        else:
            leaving = pivot(tq, bases[False], entering, range(m))
        pivots += 1
        if leaving == label:
            break
        entering, in_p = leaving, not in_p
    x, y = [zero] * m, [zero] * n
    for r, lab in enumerate(bases[True]):
        if lab < m:
            x[lab] = tp[r][-1]
    for r, lab in enumerate(bases[False]):
        if lab >= m:
            y[lab - m] = tq[r][-1]
    return [float(v / sum(x)) for v in x], [float(v / sum(y)) for v in y], pivots


@pytest.mark.parametrize("seed", range(8))
def test_lemke_howson_path_matches_exact_arithmetic(seed):
    """Same pivot count and endpoint as rational arithmetic, on 15x20 games and on small
    degenerate ones (where the lexicographic rule decides every tie)."""
    rng = np.random.default_rng(seed)
    high, shape = (1000, (15, 20)) if seed < 3 else (3, tuple(rng.integers(2, 6, size=2)))
    A, B = rng.integers(0, high, (2, *shape))
    exact = [
        [[Fraction(int(v) - int(M.min()), int(M.max() - M.min())) + 1 for v in row] for row in M]
        for M in (A, B)
    ]
    for label in range(sum(shape)) if seed >= 3 else [0, shape[0]]:
        x, y, pivots = exact_lemke_howson(*exact, label)
        fx, fy, fpivots = lemke_howson_path(_positive(A * 1.0), _positive(B * 1.0), label, 10**5)
        assert fpivots == pivots
        np.testing.assert_allclose(fx, x, atol=1e-12)
        np.testing.assert_allclose(fy, y, atol=1e-12)


@given(seed=st.integers(0, 2**16), m=st.integers(1, 5), n=st.integers(1, 5))
def test_properties(seed, m, n):
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, (m, n)).astype(float)
    B = rng.integers(-3, 4, (m, n)).astype(float)
    for method in ("lemke_howson", "support_enumeration"):
        sol = solve_bimatrix(A, B, method=method)
        assert len(sol.equilibria) >= 1
        for e in sol.equilibria:
            assert e.row.min() >= 0 and e.col.min() >= 0
            assert e.row.sum() == pytest.approx(1) and e.col.sum() == pytest.approx(1)
            assert 0 <= e.nash_conv < 1e-9
    # equilibria do not change under positive affine transformations of the payoffs
    moved = solve_bimatrix(5 * A - 2, 0.5 * B + 3, initial_dropped_label=0)
    np.testing.assert_allclose(moved.row, solve_bimatrix(A, B).row, atol=1e-9)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.zeros((2, 2)), np.zeros((2, 3))), {}, "same shape"),
        ((np.zeros((2, 2)), np.zeros(2)), {}, "B must be 2-dimensional"),
        (([[1.0, np.inf]], [[0.0, 0.0]]), {}, "A contains inf"),
        ((np.zeros((0, 2)), np.zeros((0, 2))), {}, "A is empty"),
        ((np.eye(2), np.eye(2)), {"method": "simplex"}, "method must be"),
        ((np.eye(2), np.eye(2)), {"initial_dropped_label": 4}, "initial_dropped_label"),
        ((np.eye(2), np.eye(2)), {"max_pivots": 0}, "max_pivots"),
        ((np.eye(12), np.eye(12)), {"method": "support_enumeration"}, "support pairs"),
    ],
)
def test_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_bimatrix(*args, **kwargs)
