"""The solvers' threads: every slice once on any thread count, helpers placed off the caller's
CPU, and a thread choice that follows the mean of its probes and bounds what they cost."""

import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metagame.solvers._threads import (
    DECIDE_AFTER,
    MARGIN,
    PROBE_COST,
    PROBE_FIRST,
    PROBE_LAST,
    PROBE_SECONDS,
    PROBES_KEPT,
    RATIO_CAP,
    ThreadChoice,
    run_slices,
)

# Probes in these tests are recorded as made far in the future, so that no probe falls due by
# wall time (PROBE_SECONDS) however slowly a busy machine runs the test.
LATER = time.perf_counter() + 1e6
SLOWEST = PROBE_SECONDS * PROBE_LAST / PROBE_FIRST  # the longest gap between probes


def calls_until_probe(choice):
    """Serial calls the choice grants before a probe falls due (it must fall due)."""
    calls = 0
    while choice.serial():
        calls += 1
        assert calls <= PROBE_LAST
    return calls


def recorded(ratios, threads=2):
    choice = ThreadChoice(threads)
    for ratio in ratios:
        choice.record(ratio, LATER)
    return choice


def test_threads_once_enough_probes_measure_them_faster_on_average():
    choice = ThreadChoice(2)
    for _ in range(DECIDE_AFTER - 1):  # the first calls probe until there are enough ratios
        assert choice.due() and not choice.serial()
        choice.record(0.5, LATER)  # threads took half the time per slice
        assert not choice.parallel
    choice.record(0.5, LATER)
    assert choice.parallel and not choice.serial()
    choice.record(1.0, LATER)
    choice.record(1.0, LATER)
    assert choice.parallel  # mean (3 * 0.5 + 2 * 1.0) / 5 = 0.7
    # a threaded call that now and then waits long for a preempted helper: the median (0.8)
    # says threads pay, the mean (1.04) that they do not
    assert not recorded([0.8, 0.8, 0.8, 0.8, 2.0]).parallel
    assert not recorded([MARGIN] * PROBES_KEPT).parallel  # not worth a second core
    assert recorded([0.99 * MARGIN] * PROBES_KEPT).parallel


def test_a_disturbed_probe_counts_at_most_its_cap():
    assert recorded([0.6] * (PROBES_KEPT - 1) + [100.0]).parallel  # counted as RATIO_CAP
    assert recorded([0.6] * (PROBES_KEPT - 1) + [100.0]).ratios[-1] == RATIO_CAP
    # an alone part preempted (ratio 0.01) counts as the best threads can do, 1 / threads
    assert not recorded([1.2] * (PROBES_KEPT - 1) + [0.01]).parallel
    assert recorded([0.01], threads=4).ratios[-1] == 0.25


def test_old_probes_leave_the_window():
    choice = recorded([1.5] * PROBES_KEPT)
    assert not choice.parallel
    for _ in range(PROBES_KEPT):  # the machine got idle
        choice.record(0.5, LATER)
    assert choice.parallel and list(choice.ratios) == [0.5] * PROBES_KEPT
    for _ in range(PROBES_KEPT):  # and busy again
        choice.record(1.5, LATER)
    assert not choice.parallel


def test_probes_back_off_while_one_thread_wins_and_come_sooner_when_threads_look_faster():
    choice = recorded([0.5] * DECIDE_AFTER)
    assert choice.parallel and choice.interval == PROBE_FIRST  # threads win: probed often
    choice.record(2.0, LATER)
    assert choice.parallel  # mean 0.875
    choice.record(2.0, LATER)
    assert not choice.parallel  # mean 1.1: one thread from now on
    assert calls_until_probe(choice) == PROBE_FIRST
    choice.record(2.0, LATER)
    assert calls_until_probe(choice) == 2 * PROBE_FIRST  # one thread keeps winning: back off
    choice.record(0.7, LATER)  # a probe that found threads faster: the next comes sooner
    assert not choice.parallel and calls_until_probe(choice) == PROBE_FIRST
    for _ in range(10):
        choice.record(2.0, LATER)
    assert calls_until_probe(choice) == PROBE_LAST


def test_while_one_thread_wins_probes_cost_at_most_their_share_of_the_time():
    now = time.perf_counter()
    wait = SLOWEST / 2
    lost = wait * PROBE_COST  # what the last probe's threaded part took beyond one thread
    choice = recorded([1.5] * DECIDE_AFTER)
    choice.record(1.5, now - 0.5 * wait, lost)
    choice.calls = PROBE_LAST  # enough calls for a probe ...
    assert not choice.due() and choice.serial()  # ... but too soon after the last one
    choice.record(1.5, now - 1.5 * wait, lost)
    choice.calls = PROBE_LAST
    assert choice.due()
    choice.record(1.5, now, 1e6)  # one disturbed probe waits at most the slowest gap
    assert choice.spacing == SLOWEST
    # while threads win, probes follow the machine at their usual pace
    winning = recorded([0.5] * DECIDE_AFTER)
    winning.record(0.5, now, 1.0)
    winning.calls = PROBE_FIRST
    assert winning.parallel and winning.due()


def test_probes_again_after_a_while_and_never_with_one_thread():
    now = time.perf_counter()
    busy, idle = recorded([1.5] * (PROBES_KEPT + 3)), recorded([0.5] * (PROBES_KEPT + 3))
    assert busy.interval == PROBE_LAST and idle.parallel
    assert not busy.due() and busy.serial()
    idle.record(0.5, now - 2 * PROBE_SECONDS)  # threads win: probed within PROBE_SECONDS
    busy.record(1.5, now - 2 * PROBE_SECONDS)  # one thread wins: probed 8x less often ...
    assert idle.due() and not busy.due()
    busy.record(1.5, now - 2 * SLOWEST)
    assert busy.due() and not busy.serial()  # ... but probed
    single = ThreadChoice(1)
    assert not single.due() and all(single.serial() for _ in range(3 * PROBE_LAST))


def test_threads_allowed_never_exceed_the_cpus_the_process_may_run_on():
    if not hasattr(os, "sched_setaffinity"):
        pytest.fail("the solvers' thread cap relies on os.sched_getaffinity (Linux)")
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from metagame.solvers._threads import allowed_threads; print(allowed_threads())"
    )
    env = dict(os.environ, NUMBA_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1"]


def slices_by_thread(count, threads):
    """``run_slices`` of ``count`` sleeping slices: {thread id: (slices, its allowed CPUs)}."""
    seen = {}

    def kernel(k):
        time.sleep(0.005)  # releases the GIL: the helpers take slices too
        ident = threading.get_ident()
        slices, _ = seen.get(ident, ([], None))
        seen[ident] = (slices + [k], os.sched_getaffinity(0))

    run_slices(kernel, count, threads)
    return seen


def test_helpers_run_on_the_cpus_besides_the_callers():
    allowed = os.sched_getaffinity(0)
    if len(allowed) < 2:
        pytest.fail("this test needs a machine with at least 2 CPUs")
    seen = slices_by_thread(12, 2)
    caller = seen.pop(threading.get_ident())
    assert caller[1] == allowed and os.sched_getaffinity(0) == allowed  # the caller: untouched
    assert seen, "the helper took no slice"
    for _, cpus in seen.values():
        assert cpus < allowed and len(cpus) == len(allowed) - 1
    assert sorted(caller[0] + [k for slices, _ in seen.values() for k in slices]) == list(range(12))


def test_with_one_allowed_cpu_helpers_share_it():
    code = (
        "import os; cpu = min(os.sched_getaffinity(0)); os.sched_setaffinity(0, {cpu}); "
        "from metagame.solvers._threads import cpus_besides_caller, run_slices; "
        "done = []; run_slices(done.append, 9, 2); "
        "print(cpus_besides_caller(), sorted(done) == list(range(9)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "True"]


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 40), threads=st.integers(1, 4), probe=st.booleans())
def test_every_slice_runs_exactly_once(count, threads, probe):
    done = []
    if probe:
        ThreadChoice(threads).probe(done.append, count)
    else:
        run_slices(done.append, count, threads)
    assert sorted(done) == list(range(count))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bad", [0, 7, 15])
def test_an_error_in_a_slice_reaches_the_caller(bad):
    def kernel(k):
        if k == bad:
            raise ValueError(f"slice {k}")

    with pytest.raises(ValueError, match=f"slice {bad}"):
        run_slices(kernel, 16, 2)
    done = []
    run_slices(done.append, 16, 2)  # the pool still works afterwards
    assert sorted(done) == list(range(16))
