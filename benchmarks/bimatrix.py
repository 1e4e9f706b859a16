"""Lemke-Howson on general-sum bimatrix games: metagame.solvers vs nashpy, side by side.

Both follow the path that starts by dropping label 0 on the same random game (standard normal
payoffs) and should end at the same equilibrium; the table prints each one's best-of-three
time, the ratio, the largest difference between the two answers and our NashConv. nashpy runs
in a subprocess under a time limit and is reported as "> limit" when it does not finish.

Usage: python benchmarks/bimatrix.py
"""

from __future__ import annotations

import multiprocessing
import warnings

import nashpy
import numpy as np
from _timing import best_of_three  # benchmarks/ is on sys.path when run as a script

from metagame.solvers import solve_bimatrix

SIZES = [10, 30, 60, 100]
LIMIT = 30.0  # seconds for nashpy's three runs


def nashpy_lemke_howson(A, B, queue) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nashpy warns on degenerate pivots
        queue.put(best_of_three(lambda: nashpy.Game(A, B).lemke_howson(initial_dropped_label=0)))


def anchor(A, B):
    """nashpy's (seconds, (x, y)), or None past ``LIMIT``."""
    queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=nashpy_lemke_howson, args=(A, B, queue))
    process.start()
    process.join(LIMIT)
    if process.is_alive():
        process.kill()
        return None
    return queue.get()


def main() -> None:
    header = f"{'game':<12}{'metagame s':>12}{'nashpy s':>12}{'ratio':>9}{'max |diff|':>12}"
    print(f"Lemke-Howson from label 0\n{header}{'NashConv':>12}")
    print("-" * (len(header) + 12))
    solve_bimatrix(np.eye(3), np.eye(3))  # compile outside the timing
    for n in SIZES:
        rng = np.random.default_rng(n)
        A, B = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        ours, eq = best_of_three(lambda A=A, B=B: solve_bimatrix(A, B, initial_dropped_label=0))
        result, mine = anchor(A, B), eq.equilibria[0]
        if result is None:
            cells = f"{f'> {LIMIT:.0f}':>12}{f'> {LIMIT / ours:.0f}x':>9}{'-':>12}"
        else:
            theirs, (x, y) = result
            diff = max(float(np.abs(mine.row - x).max()), float(np.abs(mine.col - y).max()))
            cells = f"{theirs:>12.4f}{theirs / ours:>8.1f}x{diff:>12.1e}"
        print(f"{n}x{n:<9}{ours:>12.4f}{cells}{eq.nash_conv:>12.1e}", flush=True)


if __name__ == "__main__":
    main()
