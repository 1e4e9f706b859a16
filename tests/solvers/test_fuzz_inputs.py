"""Every public solver entry point against malformed arrays (issue #14 section 2).

Each case takes a valid input of one entry point, spoils one of its array arguments (wrong
number of dimensions, empty, NaN, inf, complex, object or string entries, a range that
overflows, a ragged list, a non-square matrix where a square one is needed) and requires
either a ValueError whose message names that argument, or, where the spoiled input is still a
valid game (a rectangular zero-sum game, say), an answer whose numbers are all finite. Inputs
that only change layout or dtype (Fortran order, read-only, float32, integers) must give the
very answer of the float64 C-ordered original.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame import solvers

RNG = np.random.default_rng(14)
A3 = np.round(RNG.normal(size=(3, 3)), 2)
B3 = np.round(RNG.normal(size=(3, 3)), 2)
STRENGTH = np.array([0.0, 0.5, -0.7])
P3 = 1.0 / (1.0 + np.exp(STRENGTH[None, :] - STRENGTH[:, None]))
TENSOR = np.stack([A3, B3])
R2 = np.round(RNG.normal(size=(2, 2, 2)), 2)
T2 = RNG.random((2, 2, 2, 2))
T2 /= T2.sum(axis=-1, keepdims=True)
UNIFORM = [np.full(3, 1 / 3), np.full(3, 1 / 3)]
POLICY = np.full((2, 2), 0.5)
WINS = np.array([[0.0, 7.0, 2.0], [3.0, 0.0, 5.0], [8.0, 5.0, 0.0]])

# name -> (call taking the keyword arguments, valid arguments, arguments to spoil, and the
# arguments that must stay square matrices)
ENTRIES = {
    "solve_zero_sum": (lambda a: solvers.solve_zero_sum(a["A"]), {"A": A3}, ["A"], []),
    "solve_zero_sum_batch": (
        lambda a: solvers.solve_zero_sum_batch(a["As"]),
        {"As": np.stack([A3, B3])},
        ["As"],
        [],
    ),
    "minimax_winner": (lambda a: solvers.minimax_winner(a["P"]), {"P": P3}, ["P"], ["P"]),
    "minimax_winner_from_counts": (
        lambda a: solvers.minimax_winner_from_counts(a["wins"]),
        {"wins": WINS},
        ["wins"],
        ["wins"],
    ),
    "solve_regularized": (
        lambda a: solvers.solve_regularized(a["A"], beta=0.5),
        {"A": A3},
        ["A"],
        [],
    ),
    "solve_bimatrix": (
        lambda a: solvers.solve_bimatrix(a["A"], a["B"]),
        {"A": A3, "B": B3},
        ["A", "B"],
        [],
    ),
    "correlated_equilibrium": (
        lambda a: solvers.correlated_equilibrium(a["payoffs"]),
        {"payoffs": TENSOR},
        ["payoffs"],
        [],
    ),
    "alpharank": (lambda a: solvers.alpharank(a["payoffs"]), {"payoffs": A3}, ["payoffs"], []),
    "replicator_dynamics": (
        lambda a: solvers.replicator_dynamics(a["payoffs"], steps=50),
        {"payoffs": TENSOR},
        ["payoffs"],
        [],
    ),
    "projected_replicator_dynamics": (
        lambda a: solvers.projected_replicator_dynamics(a["payoffs"], steps=50),
        {"payoffs": TENSOR},
        ["payoffs"],
        [],
    ),
    "nash_conv": (
        lambda a: solvers.nash_conv(a["payoffs"], [a["x"], a["y"]]),
        {"payoffs": TENSOR, "x": UNIFORM[0], "y": UNIFORM[1]},
        ["payoffs", "x"],
        [],
    ),
    "exploitability": (
        lambda a: solvers.exploitability(a["payoffs"], [a["x"], a["y"]]),
        {"payoffs": TENSOR, "x": UNIFORM[0], "y": UNIFORM[1]},
        ["payoffs", "y"],
        [],
    ),
    "solve_markov_game": (
        lambda a: solvers.solve_markov_game(a["R"], a["T"], 0.9),
        {"R": R2, "T": T2},
        ["R", "T"],
        [],
    ),
    "markov_exploitability": (
        lambda a: solvers.markov_exploitability(a["R"], a["T"], 0.9, a["pi_1"], POLICY),
        {"R": R2, "T": T2, "pi_1": POLICY},
        ["R", "T", "pi_1"],
        [],
    ),
    "solve_general_sum_markov": (
        lambda a: solvers.solve_general_sum_markov(a["rewards"], a["T"], 0.9),
        {"rewards": np.stack([R2, -R2 + 0.1]), "T": T2},
        ["rewards", "T"],
        [],
    ),
    "markov_nash_conv": (
        lambda a: solvers.markov_nash_conv(a["rewards"], a["T"], 0.9, a["pi_1"], POLICY),
        {"rewards": np.stack([R2, -R2 + 0.1]), "T": T2, "pi_1": POLICY},
        ["rewards", "T", "pi_1"],
        [],
    ),
}
# How the strategies of nash_conv and exploitability are named in messages.
MESSAGE_NAME = {"x": "strategies[0]", "y": "strategies[1]"}


def spoil(kind: str, X: np.ndarray, index: int):
    """The spoiled version of ``X`` (a float64 array), and whether it may still be valid."""
    flat = X.ravel().copy()
    i = index % flat.size
    if kind == "more dims":
        return X[None], True  # a stack of one game is a game for some entry points
    if kind == "fewer dims":
        return X.reshape(-1)[: max(1, X.size // 2)] if X.ndim == 1 else X[0], True
    if kind == "empty":
        return X[:0], False
    if kind in ("nan", "inf", "-inf", "huge"):
        flat[i] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "huge": 1e308}[kind]
        return flat.reshape(X.shape), False
    if kind == "huge range":
        return X * 1e306 + np.sign(X) * 1e307, False
    if kind == "complex":
        return X + 1j * (index % 3), False
    if kind == "string entry":
        obj = X.astype(object)
        obj.flat[i] = "1.0"
        return obj, False
    if kind == "strings":
        return X.astype(str), False
    if kind == "none entry":
        obj = X.astype(object)
        obj.flat[i] = None
        return obj, False
    if kind == "ragged":  # one row (or entry) a shorter list than the others
        rows = [np.atleast_1d(r).tolist() for r in X]
        rows[index % len(rows)] = rows[index % len(rows)][:-1]
        return rows, len(rows) == 1
    if kind == "drop column":
        return X[..., :-1], True
    raise AssertionError(kind)


SPOILS = [
    "more dims",
    "fewer dims",
    "empty",
    "nan",
    "inf",
    "-inf",
    "huge",
    "huge range",
    "complex",
    "string entry",
    "strings",
    "none entry",
    "ragged",
    "drop column",
]


def numbers_of(result) -> list[np.ndarray]:
    """Every number in a solver's answer (fields of dataclasses, items of tuples; not its wall
    time), as float arrays."""
    if dataclasses.is_dataclass(result):
        fields = [f.name for f in dataclasses.fields(result) if f.name != "seconds"]
        return [x for name in fields for x in numbers_of(getattr(result, name))]
    if isinstance(result, list | tuple):
        return [x for item in result for x in numbers_of(item)]
    if isinstance(result, np.ndarray | float | int | np.number) and not isinstance(result, bool):
        return [np.asarray(result, dtype=float)]
    return []


def assert_same(a, b) -> None:
    xs, ys = numbers_of(a), numbers_of(b)
    assert len(xs) == len(ys) > 0
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(x, y)


@settings(max_examples=300, deadline=None)
@given(
    entry=st.sampled_from(sorted(ENTRIES)),
    kind=st.sampled_from(SPOILS),
    which=st.integers(0, 10),
    index=st.integers(0, 1000),
)
def test_spoiled_input_gives_a_named_value_error_or_a_finite_answer(entry, kind, which, index):
    call, valid, spoilable, square = ENTRIES[entry]
    name = spoilable[which % len(spoilable)]
    args = dict(valid)
    args[name], may_be_valid = spoil(kind, np.asarray(valid[name], dtype=float), index)
    if kind == "drop column" and name in square:
        may_be_valid = False
    try:
        result = call(args)
    except ValueError as err:
        # a changed shape may be reported as a mismatch with another argument
        names = valid if kind in ("more dims", "fewer dims", "drop column") else [name]
        assert any(MESSAGE_NAME.get(n, n) in str(err) for n in names), (entry, kind, str(err))
        return
    assert may_be_valid, f"{entry} accepted {kind} in {name}"
    for x in numbers_of(result):
        assert np.isfinite(x).all(), (entry, kind, result)


PAYOFFS = {"A", "B", "As", "payoffs", "R", "rewards", "wins"}  # dtype variants apply to these


VARIANTS = [
    (entry, variant)
    for entry in sorted(ENTRIES)
    for variant in ["fortran", "read-only", "float32", "int", "list"]
    if (entry, variant) != ("alpharank", "list")  # a list there is one array per population
]


@pytest.mark.parametrize("entry, variant", VARIANTS)
def test_layouts_and_dtypes_give_the_answer_of_the_float64_original(entry, variant):
    call, valid, spoilable, _ = ENTRIES[entry]
    args = {k: np.asarray(v, dtype=float) for k, v in valid.items()}
    retyped = [k for k in spoilable if variant not in ("float32", "int") or k in PAYOFFS]
    for k in retyped:
        if variant in ("float32", "int"):  # integer payoffs: both dtypes hold them exactly
            args[k] = np.round(4 * args[k])
    expected = call(args)
    changed = dict(args)
    for k in retyped:
        v = args[k]
        if variant == "fortran":
            changed[k] = np.asfortranarray(v)
        elif variant == "read-only":
            changed[k] = v.copy()
            changed[k].flags.writeable = False
        elif variant == "float32":
            changed[k] = v.astype(np.float32)
        elif variant == "int":
            changed[k] = v.astype(np.int64)
        else:
            changed[k] = v.tolist()
    assert_same(call(changed), expected)


def test_the_reported_cases_get_their_own_message():
    """The inputs of issue #14 that gave a wrong answer or a misleading message."""
    huge = np.array([[1e308, -1e308], [-1e308, 1e308]])
    with pytest.raises(ValueError, match=r"A has entries up to 1e\+308.*rescale"):
        solvers.solve_zero_sum(huge)
    with pytest.raises(ValueError, match="A is complex"):
        solvers.solve_zero_sum(np.array([[1 + 1j, 0], [0, 1]]))
    with pytest.raises(ValueError, match=r"strategies\[0\].*entry 1 is negative \(-0.5\)"):
        solvers.nash_conv((A3[:2, :2], -A3[:2, :2]), [[1.5, -0.5], [0.5, 0.5]])
    with pytest.raises(ValueError, match=r"strategies\[1\].*sums to 1.4, not 1"):
        solvers.nash_conv((A3[:2, :2], -A3[:2, :2]), [[0.5, 0.5], [0.7, 0.7]])
    # the largest accepted magnitude still gives a finite certificate
    edge = np.array([[1.0, -1.0], [-1.0, 1.0]]) * 2.0**959
    eq = solvers.solve_zero_sum(edge)
    assert np.isfinite(eq.gap) and eq.gap <= 1e-12 * 2.0**959
    np.testing.assert_allclose(eq.row, [0.5, 0.5])


def test_checking_a_large_game_allocates_nothing_of_its_size():
    """The checks of a float64 game that needs no conversion make no temporary the size of the
    game (they did: two, whose fresh pages cost up to 0.26 s on a 5000x5000 game)."""
    import tracemalloc

    from metagame._arrays import as_matrix

    A = np.random.default_rng(0).normal(size=(1000, 1000))
    tracemalloc.start()
    try:
        checked = as_matrix(A)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert checked is A and peak < A.nbytes // 100
    A[123, 456] = -np.inf
    with pytest.raises(ValueError, match=r"A contains inf \(at index \(123, 456\)\)"):
        as_matrix(A)
    A[123, 456], A[7, 8] = 1e300, np.nan
    with pytest.raises(ValueError, match=r"A contains NaN \(at index \(7, 8\)\)"):
        as_matrix(A)
    A[7, 8] = 0.0
    with pytest.raises(ValueError, match=r"A has entries up to 1e\+300"):
        as_matrix(A)
