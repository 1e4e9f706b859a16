"""Alpha-rank and projected replicator dynamics: metagame.solvers vs OpenSpiel, side by side.

One run, one machine. For each case both libraries get the same payoffs and parameters; the
table prints each one's best-of-three time, the ratio, and the largest difference between the
two answers (OpenSpiel's alpha-rank uses a dense eigensolve, ours a sparse anchored LU or
Arnoldi, so the difference is round-off unless OpenSpiel fails). Games are random standard
normal payoffs (single population: antisymmetric, as a meta-game of win margins).

Usage: python benchmarks/evolutionary.py
"""

from __future__ import annotations

import warnings

import numpy as np
from _timing import best_of_three  # benchmarks/ is on sys.path when run as a script
from open_spiel.python.algorithms import projected_replicator_dynamics as openspiel_prd
from open_spiel.python.egt import alpharank as openspiel_alpharank

from metagame.solvers import alpharank, projected_replicator_dynamics

ALPHA = 10.0
POPULATION = 50
ALPHARANK_CASES = [(100,), (300,), (8, 8), (30, 30), (6, 6, 6)]  # strategies per population
PRD_CASES = [(10, 10), (50, 50), (6, 6, 6)]
PRD_ITERATIONS = 10_000


def game(shape: tuple, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if len(shape) == 1:
        A = rng.normal(size=(shape[0], shape[0]))
        return (A - A.T)[None]
    return rng.normal(size=(len(shape), *shape))


def row(label: str, ours: float, theirs: float | None, diff: float | None) -> str:
    if theirs is None:
        return f"{label:<34}{ours:>12.4f}{'failed':>12}{'-':>9}{'-':>12}"
    return f"{label:<34}{ours:>12.4f}{theirs:>12.4f}{theirs / ours:>8.1f}x{diff:>12.1e}"


def main() -> None:
    header = f"{'case':<34}{'metagame s':>12}{'OpenSpiel s':>12}{'ratio':>9}{'max |diff|':>12}"
    print(f"alpha-rank, alpha={ALPHA:g}, population size {POPULATION}\n{header}")
    print("-" * len(header))
    alpharank(game((3,))[0], alpha=ALPHA)  # imports and first-call set-up outside the timing
    for shape in ALPHARANK_CASES:
        tensor = game(shape)
        payoffs = tensor[0] if len(shape) == 1 else tensor
        ours, mine = best_of_three(lambda p=payoffs: alpharank(p, alpha=ALPHA))
        tables = [tensor[0]] if len(shape) == 1 else list(tensor)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs, pi = best_of_three(
                    lambda t=tables: openspiel_alpharank.compute(t, alpha=ALPHA, m=POPULATION)[2]
                )
            diff = float(np.abs(np.asarray(pi) - mine.pi).max())
        except Exception:  # OpenSpiel's eigensolve refuses some chains
            theirs, diff = None, None
        label = " x ".join(map(str, shape)) + f" ({mine.pi.size} profiles)"
        print(row(label, ours, theirs, diff), flush=True)

    print(f"\nprojected replicator dynamics, {PRD_ITERATIONS} steps\n{header}")
    print("-" * len(header))
    for warm_up in ((2, 2), (2, 2, 2)):  # both kernels compiled (or loaded) outside the timing
        projected_replicator_dynamics(list(game(warm_up)), steps=10)
    for shape in PRD_CASES:
        tables = list(game(shape))
        ours, mine = best_of_three(
            lambda t=tables: projected_replicator_dynamics(t, steps=PRD_ITERATIONS)
        )
        theirs, pi = best_of_three(
            lambda t=tables: openspiel_prd.projected_replicator_dynamics(
                t, prd_iterations=PRD_ITERATIONS
            )
        )
        diff = max(float(np.abs(a - b).max()) for a, b in zip(mine.average, pi))
        print(row(" x ".join(map(str, shape)), ours, theirs, diff), flush=True)


if __name__ == "__main__":
    main()
