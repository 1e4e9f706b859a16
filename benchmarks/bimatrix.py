"""Lemke-Howson on general-sum bimatrix games: metagame.solvers vs nashpy, side by side.

Both follow the path that starts by dropping label 0 on the same random game (standard normal
payoffs) and should end at the same equilibrium; the table prints each one's best-of-three
time, the ratio, the largest difference between the two answers and our NashConv.

Usage: python benchmarks/bimatrix.py
"""

from __future__ import annotations

import time
import warnings

import nashpy
import numpy as np

from metagame.solvers import solve_bimatrix

SIZES = [10, 30, 60, 100]


def best_of_three(f):
    best, out = np.inf, None
    for _ in range(3):
        start = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    header = f"{'game':<12}{'metagame s':>12}{'nashpy s':>12}{'ratio':>9}{'max |diff|':>12}"
    print(f"Lemke-Howson from label 0\n{header}{'NashConv':>12}")
    print("-" * (len(header) + 12))
    solve_bimatrix(np.eye(3), np.eye(3))  # compile outside the timing
    for n in SIZES:
        rng = np.random.default_rng(n)
        A, B = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        ours, eq = best_of_three(lambda: solve_bimatrix(A, B, initial_dropped_label=0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nashpy warns on degenerate pivots
            theirs, (x, y) = best_of_three(
                lambda: nashpy.Game(A, B).lemke_howson(initial_dropped_label=0)
            )
        mine = eq.equilibria[0]
        diff = max(float(np.abs(mine.row - x).max()), float(np.abs(mine.col - y).max()))
        print(
            f"{n}x{n:<9}{ours:>12.4f}{theirs:>12.4f}{theirs / ours:>8.1f}x{diff:>12.1e}"
            f"{eq.nash_conv:>12.1e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
