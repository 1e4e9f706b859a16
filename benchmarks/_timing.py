"""Timing shared by the benchmark scripts."""

from __future__ import annotations

import time


def best_of_three(f):
    """``(seconds, result)``: the fastest of three calls of ``f``, with its result."""
    best, out = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - start)
    return best, out
