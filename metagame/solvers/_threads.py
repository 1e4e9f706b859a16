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
the slice it holds (and one it has not started yet delays nothing), and that sleep on a lock
(never spin) between calls. The helpers run on the allowed CPUs other than the one the caller
is on when it hands them work (``cpus_besides_caller``): Linux queues a woken thread on its
waker's CPU when no CPU is idle, and beside one busy process on 2 cores the caller and its
helper then shared one core for the whole call, as if on one thread (10,000 stage games: 23 ms
in about half the calls, 16 ms whenever the helper ran on the other core).

How many threads: one, or all allowed ones (``numba.get_num_threads()``, set by
``set_num_threads``, never more than the CPUs this process may run on, ``os.sched_getaffinity``),
decided by measured benefit, not by core count. A ``ThreadChoice`` (one per kind of work, size
by power of 2 and allowed count) now and then makes a call a probe: after one untimed slice (the
first call of a kernel in a process loads its machine code), a quarter of the slices runs alone
on the calling thread and the rest on all allowed threads; the ratio of the two parts' times per
slice is the call's parallel speed-up, both measured within milliseconds of each other, so
whatever else the machine does weighs on both alike (a busy core delays the threaded part
through the worker it holds up; a memory-bound product gains nothing from a second core). The
threaded part is the larger one because a worker sharing a core gets its turns only every few
milliseconds: timed on a quarter of a batch beside a busy process, two threads looked no faster
than one; over the whole call they were 1.3-1.4x faster.

All threads are used while the mean of the last ``PROBES_KEPT`` ratios (from the third probe
on) is below ``MARGIN`` (threaded time per slice under 0.9 of the single-thread one: extra
threads take cores other processes could use, so they must pay for it); otherwise one thread,
in one call of the serial kernel. The mean, not the median: beside a busy process a threaded
call now and then waits milliseconds for a helper the OS preempted in its last slice, a rare
and large cost. Probes of 5000x5000 products there had a median ratio of 0.94-0.96 and a mean of
1.07-1.11, and a run of threaded products took 1.13-1.14x the time of the same run on one
thread: the median chose threads that lost. Each ratio counts as at least ``1 / threads`` (a
lower one means the alone part was preempted) and at most ``RATIO_CAP``, so that one probe
disturbed by another process's burst (ratios scatter from 0.2 to 100 then) cannot decide.

Probes come on the first three calls, then every ``PROBE_FIRST`` calls while threads win, or
after ``PROBE_FIRST``, 2x, 4x, ... up to ``PROBE_LAST`` calls while one thread wins (back to
``PROBE_FIRST`` after a probe that found threads faster), and at least every ``PROBE_SECONDS``
(stretched alike while one thread wins, up to 8x), so that a machine that becomes busy is
followed within a fraction of a second, and one that becomes idle within about two seconds.
While one thread wins, a probe's threaded part costs what it took beyond the same slices on one
thread; the next probe waits until that is at most ``PROBE_COST`` of the time since (1000x1000
products, which threads make 2-3x slower: four probes cost 1-2% of a 0.16 s PRM+ solve before
this rule, one probe 0.4% after it). A probe changes only which thread computes which slice,
never the numbers.

(The rule before compared the time per unit of whole calls made at different moments, one
thread against all; beside a busy process the noise between those moments decided, 5000x5000
products that gain nothing from a second core ran on two threads much of the time, and PRM+
there came out 8% slower than on one thread.)

Small work (below ``PARALLEL_MIN_ENTRIES`` matrix entries) always runs on the calling thread:
handing it to a worker costs more than it saves.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba

PROBE_FIRST = 8  # calls between probes while all threads win, and the first gap while one wins
PROBE_LAST = 64  # ... doubling up to this many calls while one thread keeps winning
PROBE_SECONDS = 0.25  # and a probe at least this often (wall time), backing off alike
PROBE_SHARE = 4  # a probe times 1 / PROBE_SHARE of the slices alone, the rest on threads
PROBES_KEPT = 8  # the decision looks at the mean of the last this many probes' ratios ...
DECIDE_AFTER = 3  # ... once there are at least this many
RATIO_CAP = 2.0  # a probe's ratio counts as at most this (and at least 1 / threads)
MARGIN = 0.9  # all threads only when their time per slice is below this fraction of one's
PROBE_COST = 0.002  # while one thread wins, probes lose at most this share of the time

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
    each taking the next ``k`` as it finishes one. ``kernel`` must release the GIL to overlap.

    The caller waits for the slices, not for the helpers: a helper the OS has not run yet when
    the slices are all taken finds none left whenever it starts, and holds nobody up. An
    exception in a slice is raised here."""
    threads = min(threads, count)
    if threads <= 1:
        for k in range(count):
            kernel(k)
        return
    taken, finished = itertools.count(), itertools.count(1)  # next() is atomic under the GIL
    done = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        for k in taken:
            if k >= count:
                return
            try:
                kernel(k)
            except BaseException as err:  # re-raised by the caller, with its traceback
                errors.append(err)
                done.set()
                return
            if next(finished) == count:
                done.set()

    away = cpus_besides_caller()

    def helper() -> None:
        if away:
            try:
                os.sched_setaffinity(0, away)
            except OSError:  # a placement hint only (e.g. a cpuset changed meanwhile)
                pass
        work()

    pool = _executor(threads - 1)
    for _ in range(threads - 1):
        pool.submit(helper)
    work()
    done.wait()
    if errors:
        raise errors[0]


@functools.cache
def _sched_getcpu() -> Callable[[], int] | None:
    """The C library's ``sched_getcpu`` (the CPU the calling thread runs on now), or None where
    there is none (not Linux, or no C library to load)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        getcpu = ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    getcpu.restype, getcpu.argtypes = ctypes.c_int, []
    return getcpu


def cpus_besides_caller() -> set[int] | None:
    """The CPUs the calling thread may run on, less the one it runs on now; None where that is
    unknown or leaves none. ``run_slices``'s helpers run there: a helper woken by the caller
    is otherwise queued on the caller's CPU, and beside one busy process on 2 cores the two
    threads then share one core for the whole call (a 10,000-game batch took the single-thread
    23 ms in about half the calls, 16 ms when the helper ran on the other core)."""
    getcpu = _sched_getcpu()
    if getcpu is None:
        return None
    cpu = getcpu()
    away = os.sched_getaffinity(0) - {cpu}
    return away if cpu >= 0 and away else None


def allowed_threads() -> int:
    """Threads the solvers may use: ``numba.get_num_threads()``, at most the CPUs this process
    may run on."""
    limit = numba.get_num_threads()
    if hasattr(os, "sched_getaffinity"):
        limit = min(limit, len(os.sched_getaffinity(0)))
    return max(limit, 1)


class ThreadChoice:
    """One thread or ``threads`` for one kind and size of work, by probes of the speed-up."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.ratios: deque[float] = deque(maxlen=PROBES_KEPT)
        self.parallel = False  # all threads measured faster by the margin
        self.calls = 0  # calls since the last probe
        self.interval = PROBE_FIRST
        self.last_probe = -float("inf")
        self.spacing = 0.0  # seconds before the next probe while one thread wins

    def due(self) -> bool:
        """Whether the next call should be a probe."""
        if self.threads <= 1:
            return False
        since = time.perf_counter() - self.last_probe
        if self.spacing and not self.parallel and since < self.spacing:
            return False
        late = since > PROBE_SECONDS * self.interval / PROBE_FIRST
        return len(self.ratios) < DECIDE_AFTER or self.calls >= self.interval or late

    def serial(self, calls: int = 1) -> bool:
        """True when the next ``calls`` calls run on the calling thread (they are counted
        towards the next probe); False when all threads won or a probe is due, and the caller
        should hand its slices to ``run``."""
        if self.parallel or self.due():
            return False
        self.calls += calls
        return True

    def run(self, kernel: Callable[[int], object], count: int) -> None:
        """``kernel(k)`` for every ``k < count``: a probe if one is due, else on the chosen
        thread count."""
        if self.due():
            self.probe(kernel, count)
            return
        self.calls += 1
        run_slices(kernel, count, self.threads if self.parallel else 1)

    def probe(self, kernel: Callable[[int], object], count: int) -> None:
        """Slice 0 untimed (it may load the kernel's machine code); then ``count //
        PROBE_SHARE`` slices (at least one) alone on the calling thread and the rest on all
        threads, timed; their time-per-slice ratio updates the decision. Too few slices measure
        nothing."""
        if count < 3:
            run_slices(kernel, count, 1)
            return
        kernel(0)
        alone = max(1, count // PROBE_SHARE)
        start = time.perf_counter()
        for k in range(1, 1 + alone):
            kernel(k)
        middle = time.perf_counter()
        rest = count - 1 - alone
        run_slices(lambda k: kernel(1 + alone + k), rest, self.threads)
        end = time.perf_counter()
        one = max(middle - start, 1e-9) / alone
        self.record(((end - middle) / rest) / one, end, (end - middle) - rest * one)

    def record(self, ratio: float, now: float, lost: float = 0.0) -> None:
        """A probe's threaded / single-thread time per slice, measured at ``now``; ``lost``
        seconds is what its threaded part took beyond the same slices on one thread."""
        self.spacing = min(max(lost, 0.0) / PROBE_COST, PROBE_SECONDS * PROBE_LAST / PROBE_FIRST)
        self.ratios.append(min(max(ratio, 1.0 / self.threads), RATIO_CAP))
        enough = len(self.ratios) >= DECIDE_AFTER
        parallel = enough and sum(self.ratios) < MARGIN * len(self.ratios)
        if parallel or parallel != self.parallel or ratio < MARGIN:
            self.interval = PROBE_FIRST
        else:
            self.interval = min(2 * self.interval, PROBE_LAST)
        self.parallel, self.calls, self.last_probe = parallel, 0, now


def share(
    kernel: Callable[[int], object],
    count: int,
    serial: Callable[[], object],
    threads: int | None,
    kind: str,
    entries: int,
) -> bool:
    """The work of ``count`` slices ``kernel(k)``, or of ``serial()`` (all of it in one call on
    the calling thread): on ``threads`` threads, or if None as ``choice(kind, entries)``
    decides. Returns True when the slices ran (the caller then finishes, e.g. adds up partial
    sums), False when ``serial`` did."""
    if threads is None:
        pick = choice(kind, entries)
        if not pick.serial():
            pick.run(kernel, count)
            return True
        threads = 1
    if threads <= 1:
        serial()
        return False
    run_slices(kernel, count, threads)
    return True


_choices: dict[tuple[str, int, int], ThreadChoice] = {}


def choice(kind: str, entries: int) -> ThreadChoice:
    """The ``ThreadChoice`` of ``kind`` work on about ``entries`` matrix entries (by power of 2),
    for the number of threads allowed now."""
    threads = allowed_threads()
    key = (kind, int(entries).bit_length(), threads)
    if key not in _choices:
        _choices[key] = ThreadChoice(threads)
    return _choices[key]
