"""One process of the Numba-cache stress test (``test_cache_stress.py``); not a test itself.

Runs every threaded kernel path of the solvers, in an order given by ``argv[1]`` (so that the
processes started together compile different kernels first), on one thread and on all
``NUMBA_NUM_THREADS``, and through the public API with C, Fortran and read-only arrays of
float64, float32 and integers. Prints one JSON line of the exact results (as float hex).
"""

from __future__ import annotations

import json
import sys

import numba
import numpy as np

from metagame.solvers import solve_zero_sum, solve_zero_sum_batch
from metagame.solvers._linalg import PARALLEL_MIN_ENTRIES, mat_vec, vec_mat
from metagame.solvers._rm import PRMState
from metagame.solvers._simplex import simplex_batch

RNG = np.random.default_rng(2024)
GAME = np.round(RNG.normal(size=(460, 470)), 3)  # above the threaded-kernel threshold
SKEW = np.round(RNG.normal(size=(460, 460)), 3)
SKEW = SKEW - SKEW.T
STACK = np.round(RNG.normal(size=(2100, 10, 10)), 2)
assert GAME.size >= PARALLEL_MIN_ENTRIES and STACK.size >= PARALLEL_MIN_ENTRIES


def hexes(*arrays) -> list[str]:
    return [float(v).hex() for a in arrays for v in np.ravel(a)]


def variants(A: np.ndarray):
    """C, Fortran and read-only layouts of float64, float32 and integer versions of ``A``."""
    for dtype in (np.float64, np.float32, np.int64):
        B = (A * 1000).astype(dtype) if dtype == np.int64 else A.astype(dtype)
        ro = B.copy()
        ro.flags.writeable = False
        yield from (np.ascontiguousarray(B), np.asfortranarray(B), ro)


def products() -> list[str]:
    x = np.where(RNG.random(460) < 0.3, 0.0, 1.0 / 460)
    y = np.full(470, 1.0 / 470)
    out = []
    for threads in (1, numba.get_num_threads()):
        Ay, xA = np.empty(460), np.empty(470)
        mat_vec(GAME, y, Ay, threads)
        vec_mat(x, GAME, xA, threads)
        out.append(hexes(Ay, xA))
    assert out[0] == out[1]
    return out[0]


def prm_plus() -> list[str]:
    out = []
    for A, symmetric in ((GAME, False), (SKEW, True)):
        runs = []
        for threads in (1, numba.get_num_threads()):
            m, n = A.shape
            state = PRMState(np.full(m, 1 / m), np.full(n, 1 / n), symmetric)
            state.run(A, 5, 1e-12, threads)
            state.run(A, 5, 1e-12, 1)
            runs.append(hexes(*state.average(), state.gap))
        assert runs[0] == runs[1]
        out += runs[0]
    return out


def public_prm() -> list[str]:
    answers = {}
    for method in ("prm+", "prm+/double_oracle"):
        for A in variants(GAME):
            eq = solve_zero_sum(A, tol=1e-3, method=method, max_iter=40)
            answers.setdefault((method, A.dtype.str), []).append(hexes(eq.row, eq.col, eq.gap))
    for runs in answers.values():
        assert all(r == runs[0] for r in runs)  # layouts do not change the answer
    return [h for runs in answers.values() for h in runs[0]]


def batch() -> list[str]:
    priority = np.zeros(STACK.shape[::2], dtype=np.bool_)
    one = simplex_batch(STACK, priority, 1)
    many = simplex_batch(STACK, priority, numba.get_num_threads())
    assert all(np.array_equal(a, b) for a, b in zip(one, many))
    rows, cols, values, gaps = solve_zero_sum_batch(np.asfortranarray(STACK))
    assert np.array_equal(values, one[2]) and gaps.max() < 1e-9
    return hexes(*one[:4])


PATHS = {"products": products, "prm_plus": prm_plus, "public_prm": public_prm, "batch": batch}

if __name__ == "__main__":
    order = sys.argv[1].split(",")
    results = {name: PATHS[name]() for name in order}
    print(json.dumps({name: results[name] for name in sorted(results)}))
