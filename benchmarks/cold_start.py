"""Cold start per family: the first use of each part of metagame in a new process, with an
empty Numba cache (what a new user waits for once) and again with the cache it left (every run
after).

Run: ``.venv/bin/python benchmarks/cold_start.py [--only traffic,mapf]``.

Each case runs in its own subprocess with ``NUMBA_CACHE_DIR`` pointing at a fresh folder, so
nothing compiled by earlier runs is reused; the second subprocess reuses that folder. The time is
wall time of the case's body (imports included), and the anchor is the same body with a warm
cache: the ratio is what compiling costs. The lines Numba's compile notice printed (see
``metagame._compile_notice``) are counted, to show the user was told. Kernels that are not
cached on disk (Numba's parallel kernels) compile in every process and show in both columns.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

CASES = {
    "matrix": "env = make('matrix', game='rps'); env.reset(seed=0)",
    "soccer+solve": textwrap.dedent(
        """
        from metagame.solvers import solve_markov_game
        tab = make('soccer').tabular(sparse=True)
        solve_markov_game(tab.R, tab.T, gamma=0.9, tol=1e-6)
        """
    ),
    "pursuit_evasion": "env = make('pursuit_evasion'); env.reset(seed=0)",
    "mapf+pibt": textwrap.dedent(
        """
        from metagame.agents import plan
        env = make('mapf', map='random-32-32-20', num_agents=32, seed=0)
        env.reset(seed=0)
        plan(env.grid, env.positions, env.goals, method='pibt')
        """
    ),
    "traffic": textwrap.dedent(
        """
        env = make('traffic', scenario='intersection')
        obs, _ = env.reset(seed=0)
        env.step({a: env.action_space(a).sample() for a in env.agents})
        """
    ),
    "preference": "env = make('preference'); env.reset(seed=0)",
    "openspiel:kuhn_poker": "env = make('openspiel:kuhn_poker'); env.reset(seed=0)",
    "zero-sum 200x200": textwrap.dedent(
        """
        import numpy as np
        from metagame.solvers import solve_zero_sum
        solve_zero_sum(np.random.default_rng(0).standard_normal((200, 200)), tol=1e-6)
        """
    ),
    "alpharank": textwrap.dedent(
        """
        import numpy as np
        from metagame.solvers import alpharank
        alpharank([np.random.default_rng(0).standard_normal((4, 4))] * 2, alpha=10.0)
        """
    ),
}

PRELUDE = "import time; t0 = time.perf_counter()\nfrom metagame.envs import make\n"
CODA = "\nprint('SECONDS', time.perf_counter() - t0)"


def run_case(body: str, cache_dir: str) -> tuple[float, int, str]:
    """(seconds, compile-notice lines, error) of one case in a new process."""
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + body + CODA], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        return time.perf_counter() - start, 0, out.stderr.strip().splitlines()[-1]
    seconds = float(out.stdout.split("SECONDS")[-1])
    notices = sum(line.startswith("metagame: compiling") for line in out.stderr.splitlines())
    return seconds, notices, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated case names")
    args = parser.parse_args()
    names = [n for n in CASES if not args.only or n in args.only.split(",")]
    print(f"{'case':22} {'cold s':>8} {'warm s':>8} {'ratio':>7} {'notices':>8}")
    for name in names:
        with tempfile.TemporaryDirectory() as cache:
            cold, notices, err = run_case(CASES[name], cache)
            warm, _, err2 = run_case(CASES[name], cache)
        if err or err2:
            print(f"{name:22} failed: {err or err2}")
            continue
        print(f"{name:22} {cold:8.1f} {warm:8.1f} {cold / warm:7.1f} {notices:8d}")


if __name__ == "__main__":
    main()
