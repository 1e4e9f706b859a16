"""Threads for the solvers' large kernels: blocking workers, a thread count chosen by measurement.

Why not Numba's ``parallel=True``. Two reasons, both seen on the shared 2-core machine:

1. A segfault (issue #14; numba issues 8578 and 10128). A cached function that calls a
   ``parallel=True`` kernel stores, with its machine code, the list of runtime initializers it
   needs on reload (Numba's parfor hook that starts the threading layer). When that caller is
   compiled in a process that loaded the parallel kernel from the cache instead of compiling it,
   the list comes out empty; any later process that loads the caller from the cache then jumps
   into the uninitialized threading layer and dies with SIGSEGV, for every game size, until the
   cache is deleted. Which process compiles what first depends on who touches the shared cache
   first, so the crash came and went with the mix of leagues, benchmarks and tests running.
   Uncached parallel kernels avoid it but cost seconds of compilation in every process.
2. Collapse under load (issue #19). Numba's OpenMP layer splits a loop statically, one piece per
   thread, and its workers spin between loops: with one other busy process on 2 cores, each of
   the thousands of short loops in a PRM+ run waits for a descheduled worker (0.33 s with one
   thread became 4.7 s with two).

So every kernel here is a plain cached ``@njit(cache=True, nogil=True)`` function over one slice
of the work (a band of rows, a range of games). ``run_slices`` hands the slices to Python threads
that take them one at a time from a shared counter, so a thread the OS deschedules delays only
the slice it holds, and that sleep on a lock (never spin) between calls.

How many threads: ``ThreadChoice`` keeps, for one kind and size of work, the measured time per
unit of work on one thread and on all allowed threads (``numba.get_num_threads()``, set by
``set_num_threads``): for the count in use, an average of its recent calls (each new one
weighs half); for the other, its latest re-measurement. All threads are used only when they
are at least 10% faster than one (they take cores other processes could use). The slower count
is re-measured now and then (after 4 calls, then 8, ... up to 64 while it keeps losing), so a
machine that becomes busy or idle is followed within a few calls. Small work (below
``PARALLEL_MIN_ENTRIES`` matrix entries) always runs on the calling thread: handing it to a
worker costs more than it saves.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba

PROBE_FIRST = 4  # calls between re-measurements of the slower thread count ...
PROBE_LAST = 64  # ... doubling up to this while it keeps losing
MARGIN = 0.9  # all threads only when their time per unit is below this fraction of one's

_pool: ThreadPoolExecutor | None = None
_pool_pid = -1
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    """The process's worker pool with at least ``workers`` threads (made anew after a fork)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool._max_workers < workers:
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)  # its idle threads exit; running work finishes
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="metagame-solver")
            _pool_pid = os.getpid()
        return _pool


def run_slices(kernel: Callable[[int], object], count: int, threads: int) -> None:
    """``kernel(k)`` for every ``k < count``, on ``threads`` threads (the caller is one of them),
    each taking the next ``k`` as it finishes one. ``kernel`` must release the GIL to overlap."""
    threads = min(threads, count)
    if threads <= 1:
        for k in range(count):
            kernel(k)
        return
    counter = itertools.count()  # next() on it is atomic under the GIL

    def work() -> None:
        for k in counter:
            if k >= count:
                return
            kernel(k)

    pool = _executor(threads - 1)
    helpers = [pool.submit(work) for _ in range(threads - 1)]
    work()
    for helper in helpers:
        helper.result()


class ThreadChoice:
    """One thread or all allowed threads for one kind of work, whichever measured faster."""

    def __init__(self) -> None:
        self.seconds_per_unit: dict[int, float] = {}
        self.since_probe = 0
        self.interval = PROBE_FIRST

    def threads(self) -> int:
        """The thread count to use for the next call."""
        limit = numba.get_num_threads()
        if limit <= 1:
            return 1
        for candidate in (1, limit):
            if candidate not in self.seconds_per_unit:
                return candidate
        best = self._best(limit)
        self.since_probe += 1
        if self.since_probe >= self.interval:
            self.since_probe = 0
            return limit if best == 1 else 1
        return best

    def record(self, threads: int, seconds: float, units: float) -> None:
        """Time ``seconds`` of a call that did ``units`` of work on ``threads`` threads."""
        limit = numba.get_num_threads()
        before = self._best(limit) if len(self.seconds_per_unit) >= 2 else None
        rate = seconds / max(units, 1.0)
        if threads == before:  # the count in use: smooth out noise from other processes
            rate = 0.5 * (self.seconds_per_unit[threads] + rate)
        self.seconds_per_unit[threads] = rate
        if before is not None and threads != before:  # a re-measurement of the slower count
            won = self._best(limit) == threads
            self.interval = PROBE_FIRST if won else min(2 * self.interval, PROBE_LAST)

    def _best(self, limit: int) -> int:
        one = self.seconds_per_unit.get(1, float("inf"))
        return limit if self.seconds_per_unit.get(limit, float("inf")) < MARGIN * one else 1

    def timed(self, call: Callable[[int], object], units: float):
        """``call(threads)`` with the chosen thread count, timed and recorded; its result."""
        threads = self.threads()
        start = time.perf_counter()
        out = call(threads)
        self.record(threads, time.perf_counter() - start, units)
        return out


_choices: dict[tuple[str, int], ThreadChoice] = {}


def choice(kind: str, entries: int) -> ThreadChoice:
    """The ``ThreadChoice`` of ``kind`` work on about ``entries`` matrix entries (by power of 2)."""
    key = (kind, int(entries).bit_length())
    if key not in _choices:
        _choices[key] = ThreadChoice()
    return _choices[key]
