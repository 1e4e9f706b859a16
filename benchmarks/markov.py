"""Markov-game solving benchmark: metagame's Shapley solvers against OpenSpiel's value_iteration.

Run: ``.venv/bin/python benchmarks/markov.py [--states 10000] [--sweeps 100] [--no-openspiel]``.

1. Littman's soccer (762 states, 5x5 actions, gamma 0.9) solved to a Bellman-Shapley residual
   below 1e-8 by value iteration (batched, warm-started Numba simplex), Hoffman-Karp and
   Pollatschek-Avi-Itzhak policy iteration, each with its best-response exploitability.
   OpenSpiel's ``value_iteration`` solves one LP per state per sweep with cvxpy; on soccer that
   is projected from its measured per-LP cost on soccer's own stage games times the number of
   sweeps value iteration needs (a full run takes tens of minutes).
2. Where OpenSpiel's ``value_iteration`` runs in seconds, it is run for real on our game as
   registered with pyspiel: pursuit-evasion on a 4-node path, discount 0.5 played as a
   termination chance (``metagame_pursuit_evasion``), every state's value compared with ours.
   (OpenSpiel's value iteration scores only terminal returns, which is exact here because
   the only reward is the capture.)
3. A random game with 10,000 states, 5x5 actions and 3 successors per joint action: 100
   Shapley sweeps, against OpenSpiel's per-LP cost times 1,000,000 LPs (projected).

OpenSpiel's LP solver needs cvxpy and ECOS, which are not dependencies of metagame: they are
installed with pip into ``benchmarks/.venvs/cvxpy`` (``pip install --target``, pinned) and the
OpenSpiel side runs in a subprocess with that directory on ``PYTHONPATH``. If that fails, our
figures are printed alone and the reason is said.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from _cvxpy import ensure_cvxpy  # benchmarks/ is on sys.path when run as a script

from metagame.envs import make
from metagame.envs.markov import random_game
from metagame.solvers import solve_markov_game, solve_zero_sum
from metagame.solvers.markov import METHODS, _check_game, _shapley

ROOT = Path(__file__).resolve().parent.parent
OPENSPIEL_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    import pyspiel
    from open_spiel.python.algorithms import lp_solver, value_iteration
    import metagame.envs.markov.spiel  # registers metagame_* games

    data = np.load(sys.argv[1])
    out = {}
    for key in ("soccer", "random"):
        stack = data[key]
        games = [pyspiel.create_matrix_game(M.tolist(), (-M).tolist()) for M in stack]
        lp_solver.solve_zero_sum_matrix_game(games[0])
        start = time.perf_counter()
        values = [lp_solver.solve_zero_sum_matrix_game(g)[2] for g in games]
        out[key + "_lp"] = (time.perf_counter() - start) / len(games)
        out[key + "_values"] = [float(v) for v in values]
    game = pyspiel.load_game(sys.argv[2])
    start = time.perf_counter()
    values = value_iteration.value_iteration(game, -1, 1e-8, cyclic_game=True)
    out["small_time"] = time.perf_counter() - start
    out["small_values"] = values
    print(json.dumps(out))
    """
)


SMALL = "metagame_pursuit_evasion(graph=path:4,discount=0.5,horizon=1000000)"


def run_openspiel(stacks: dict[str, np.ndarray]) -> tuple[dict | None, str]:
    target = ensure_cvxpy()
    if target is None:
        return None, "cvxpy/ECOS could not be installed (see above)"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stages.npz"
        np.savez(path, **stacks)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(target)])}
        proc = subprocess.run(
            [sys.executable, "-c", OPENSPIEL_SCRIPT, str(path), SMALL],
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    if proc.returncode != 0:
        return None, "OpenSpiel subprocess failed: " + proc.stderr.strip()[-400:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), "ok"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    secs = time.perf_counter() - start
    print(
        f"  [{getattr(fn, '__name__', fn)} {args[3:] if len(args) > 3 else ''}: {secs:.2f} s]",
        file=sys.stderr,
        flush=True,
    )
    return out, secs


def sweeps(g, n: int) -> float:
    """Wall time of ``n`` Shapley sweeps (batched warm-started stage solves)."""
    V = np.zeros(g.R.shape[0])
    warm = None
    start = time.perf_counter()
    for _ in range(n):
        V, _, pi_1, pi_2 = _shapley(g, V, warm, 1e-9)
        warm = (pi_1, pi_2)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--states", type=int, default=10_000)
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--lp-sample", type=int, default=100, help="LPs timed on OpenSpiel's side")
    parser.add_argument("--no-openspiel", action="store_true")
    args = parser.parse_args()

    # warm up the Numba kernels (compilation is not what is measured)
    small = random_game(5, (5, 5), seed=0).tabular(sparse=True)
    solve_markov_game(small.R, small.T, 0.9)

    soccer = make("soccer").tabular(sparse=True)
    rows = []
    solutions = {}
    for method in METHODS:
        sol, secs = timed(solve_markov_game, soccer.R, soccer.T, 0.9, 1e-8, method)
        solutions[method] = sol
        rows.append((method, secs, sol.iterations, sol.residual, sol.exploitability))
    vi = solutions["value_iteration"]

    game = random_game(args.states, (5, 5), num_successors=3, seed=1).tabular(sparse=True)
    g = _check_game(game.R, game.T, 0.9)
    sweeps(g, 2)
    random_secs = sweeps(g, args.sweeps)
    pai, pai_secs = timed(solve_markov_game, game.R, game.T, 0.9, 1e-8, "pollatschek_avi_itzhak")

    rng = np.random.default_rng(0)
    pick = rng.choice(760, min(args.lp_sample, 760), replace=False)
    stacks = {"soccer": vi.Q[pick], "random": pai.Q[rng.choice(args.states, args.lp_sample)]}
    spiel, why = (None, "skipped (--no-openspiel)") if args.no_openspiel else run_openspiel(stacks)

    print("\n== Littman's soccer: 762 states, 5x5 actions, gamma 0.9, residual < 1e-8 ==")
    print(
        f"{'solver':<44}{'time (s)':>10}{'sweeps':>8}{'residual':>11}{'exploit.':>11}{'ratio':>9}"
    )
    os_soccer = None
    if spiel:
        os_soccer = spiel["soccer_lp"] * 760 * vi.iterations
    for method, secs, its, res, expl in rows:
        ratio = f"{os_soccer / secs:8.0f}x" if os_soccer else "      -"
        print(f"{'metagame ' + method:<44}{secs:>10.3f}{its:>8d}{res:>11.1e}{expl:>11.1e}{ratio}")
    if spiel:
        err = np.max(np.abs(np.asarray(spiel["soccer_values"]) - solve_values(vi.Q[pick])))
        print(
            f"{'OpenSpiel value_iteration (projected)':<44}{os_soccer:>10.1f}{vi.iterations:>8d}"
            f"{'-':>11}{'-':>11}{'1x':>9}"
        )
        print(
            f"  OpenSpiel LP (cvxpy/ECOS): {spiel['soccer_lp'] * 1e3:.2f} ms per stage game, "
            f"max |value - ours| = {err:.1e} on {len(pick)} soccer stage games"
        )
    else:
        print(f"  OpenSpiel not run: {why}")

    print(f"\n== OpenSpiel value_iteration run for real: {SMALL} ==")
    small = make("pursuit_evasion", graph="path:4", gamma=0.5).tabular(sparse=True)
    ours, ours_secs = timed(solve_markov_game, small.R, small.T, 0.5, 1e-8)
    print(f"{'solver':<44}{'time (s)':>10}{'max |V - V_os|':>16}{'ratio':>9}")
    if spiel:
        keys = [f"state {s} {small.observations[s].tolist()}" for s in range(small.num_states)]
        theirs = spiel["small_values"]
        diff = max(
            abs(theirs[k] - ours.V[s])
            for s, k in enumerate(keys)
            if k in theirs and not small.terminal[s]
        )
        print(
            f"{'metagame value_iteration':<44}{ours_secs:>10.3f}{diff:>16.1e}"
            f"{spiel['small_time'] / ours_secs:>8.0f}x"
        )
        print(f"{'OpenSpiel value_iteration':<44}{spiel['small_time']:>10.3f}{'-':>16}{'1x':>9}")
    else:
        print(f"{'metagame value_iteration':<44}{ours_secs:>10.3f}{'-':>16}{'-':>9}")

    print(f"\n== random game: {args.states} states, 5x5 actions, 3 successors, gamma 0.9 ==")
    print(f"{'solver':<44}{'time (s)':>10}{'ratio':>9}")
    projected = spiel["random_lp"] * args.states * args.sweeps if spiel else None
    ratio = f"{projected / random_secs:8.0f}x" if projected else "      -"
    print(f"{f'metagame {args.sweeps} Shapley sweeps':<44}{random_secs:>10.2f}{ratio}")
    print(
        f"{'metagame PAI to residual 1e-8':<44}{pai_secs:>10.2f}"
        f"   ({pai.iterations} iterations, exploitability {pai.exploitability:.1e})"
    )
    if projected:
        print(f"{f'OpenSpiel {args.sweeps} sweeps (projected)':<44}{projected:>10.0f}{'1x':>9}")
        print(
            f"  OpenSpiel LP: {spiel['random_lp'] * 1e3:.2f} ms per stage game "
            f"x {args.states * args.sweeps:,} stage games"
        )


def solve_values(stack: np.ndarray) -> np.ndarray:
    return np.array([solve_zero_sum(M).value for M in stack])


if __name__ == "__main__":
    main()
