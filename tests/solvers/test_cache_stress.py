"""No crash from the Numba cache, whatever ran before (issue #14 section 1).

The segfault came from cached functions that called ``parallel=True`` kernels (see
``metagame/solvers/_threads.py``). The solvers now have no parallel kernels; this test runs
several processes at once on a fresh cache directory, with different ``NUMBA_NUM_THREADS``
and kernels compiled in different orders, through every threaded path (PRM+ plain and
symmetric, PRM+ then double oracle, the banded products, the simplex over a stack of games)
with C, Fortran and read-only arrays of float64, float32 and integers; then fresh processes
that load what the first ones cached. Every exit code must be 0 and every result identical.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import metagame

HERE = Path(__file__).parent
ROOT = Path(metagame.__file__).parent.parent
WORKER = HERE / "cache_worker.py"
# The writers share the paths (and, in different orders, the kernels under them) so that they
# compile at the same time; the readers run every path from what the writers cached.
WRITERS = [(1, "public_prm,products"), (2, "batch,prm_plus"), (3, "prm_plus,batch")]
READERS = [(2, "products,prm_plus,public_prm,batch"), (4, "batch,public_prm,prm_plus,products")]


def start(cache: Path, threads: int, order: str) -> subprocess.Popen:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache), NUMBA_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(WORKER), order],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(processes: list[subprocess.Popen]) -> list[dict]:
    results = []
    for p in processes:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, f"exit status {p.returncode}:\n{err[-3000:]}"
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_concurrent_cache_writers_then_readers_never_crash_and_agree(tmp_path):
    cache = tmp_path / "numba-cache"
    writers = finish([start(cache, threads, order) for threads, order in WRITERS])
    assert len(list(cache.rglob("*.nbi"))) >= 10, "the writers cached too little"
    readers = finish([start(cache, threads, order) for threads, order in READERS])
    for path, answer in readers[0].items():
        assert all(result[path] == answer for result in writers + readers if path in result)


def test_no_parallel_numba_kernel_anywhere_in_metagame():
    """The design that removed the segfault: no ``jit(..., parallel=True)`` nor ``prange``."""
    sources = list(Path(metagame.__file__).parent.rglob("*.py"))
    assert len(sources) > 50
    parallel = re.compile(r"jit\([^)]*parallel\s*=\s*True|\bprange\(")
    assert parallel.search("@njit(cache=True, parallel=True)")
    assert [str(p) for p in sources if parallel.search(p.read_text())] == []
