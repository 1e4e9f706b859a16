"""MAPF benchmark: metagame's env against POGEMA, and the planners against pure Python.

Run: ``.venv/bin/python benchmarks/mapf.py [--steps 300] [--no-pogema]``.

1. Environment throughput, random joint actions, obs radius 5, random maps of density 0.3:
   64 agents on 64x64 and 256 agents on 64x64 (side by side with POGEMA), 1024 agents on
   128x128 (ours only), in lifelong (``restart``) and ``finish`` modes. POGEMA (pinned
   gymnasium/pydantic, so it cannot live beside ray[rllib]) is installed into its own
   virtualenv ``benchmarks/.venvs/pogema`` (``python -m venv`` + ``pip install pogema``) and run
   in a subprocess; if that fails, our figures are printed alone and the reason is said.
   POGEMA uses ``collision_system="block_both"``, the rule closest to ours. Our env is timed
   through the PettingZoo dict API (``step``) and the array API (``step_arrays``). Steps are
   counted per CPU second of the process (``time.process_time``, best of five): both sides
   run single-threaded, and CPU time keeps other load on a shared machine out of the ratio.
2. Planner wall time on ``random-32-32-10-random-1.scen`` for growing numbers of agents: PIBT
   and LaCAM with the Numba PIBT kernel against the same algorithms with the plain-Python
   kernel (``pibt_step_reference``); CBS and prioritized planning (pure Python) on small sizes.
3. Lifelong MAPF driven by a planner: ``PlannerPolicy("pibt")`` (PIBT with swap, priorities and
   the lazy distance table kept across steps) against random actions, on the same maps as table
   1 in ``restart`` mode: throughput (goals reached per step, the env's own metric) and env steps
   per CPU second with planning included.
4. Rendering: milliseconds per ``rgb_array`` frame of 1,000 agents on 128x128 (640x640 pixels)
   by the vectorised ``Renderer`` against ``draw_reference`` (one pygame call per wall, goal
   and agent), which draws the same pixels.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from metagame.agents.planners import PlannerPolicy, PlanningFailed, check, make_instance
from metagame.agents.planners.cbs import cbs
from metagame.agents.planners.lacam import lacam
from metagame.agents.planners.pibt import pibt, pibt_step, pibt_step_reference
from metagame.agents.planners.prioritized import prioritized
from metagame.envs import make
from metagame.envs.mapf import maps, render

VENV = Path(__file__).resolve().parent / ".venvs" / "pogema"
ENV_CASES = [(64, 64), (256, 64), (1024, 128)]
POGEMA_CASES = {(64, 64), (256, 64)}

POGEMA_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from pogema import GridConfig, pogema_v0
    n, size, steps, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    env = pogema_v0(GridConfig(num_agents=n, size=size, density=0.3, obs_radius=5, seed=0,
                               max_episode_steps=10**6, on_target=mode,
                               collision_system="block_both"))
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, size=(steps + 10, n)).tolist()
    for t in range(10):
        env.step(actions[t])
    best = 0.0
    for _ in range(5):  # best of five
        start = time.process_time()
        for t in range(steps):
            env.step(actions[10 + t])
        best = max(best, steps / (time.process_time() - start))
    print(json.dumps(best))
    """
)


def ensure_pogema() -> tuple[Path | None, str]:
    """The POGEMA virtualenv's python, built on first use; or None and the reason."""
    python = VENV / "bin" / "python"
    check_import = [str(python), "-c", "import pogema"]
    if python.exists() and subprocess.run(check_import, capture_output=True).returncode == 0:
        return python, "ok"
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "pogema"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        subprocess.run(check_import, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", b"") or b""
        return None, f"could not build {VENV} ({type(err).__name__}: {detail[-300:]!r})"
    return python, "ok"


def pogema_steps_per_second(python: Path, n: int, size: int, steps: int, mode: str) -> float:
    out = subprocess.run(
        [str(python), "-c", POGEMA_SCRIPT, str(n), str(size), str(steps), mode],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def ours_steps_per_second(n: int, size: int, steps: int, mode: str, api: str) -> float:
    grid = maps.random_map(size, size, 0.3, seed=0)
    env = make(
        "mapf", map=grid, num_agents=n, on_target=mode, obs_radius=5, max_steps=10**6, seed=0
    )
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 5, size=(steps + 10, n))
    names = list(env.possible_agents)
    dict_actions = [dict(zip(names, row)) for row in actions.tolist()]
    for t in range(10):
        env.step(dict_actions[t])
    best = 0.0
    for _ in range(5):  # best of five, as for POGEMA
        start = time.process_time()
        if api == "dict":
            for t in range(steps):
                env.step(dict_actions[10 + t])
        else:
            for t in range(steps):
                env.step_arrays(actions[10 + t])
        best = max(best, steps / (time.process_time() - start))
    return best


def env_table(steps: int, use_pogema: bool) -> None:
    python, status = ensure_pogema() if use_pogema else (None, "skipped (--no-pogema)")
    print(
        f"\n== environment steps per CPU second (density 0.3, obs radius 5, random actions); "
        f"POGEMA: {status}"
    )
    header = (
        f"{'mode':<8} {'agents':>6} {'map':>8} {'ours dict':>10} {'ours arrays':>12} "
        f"{'POGEMA':>8} {'agent-steps/s (dict)':>21} {'ratio dict':>10} {'ratio arrays':>12}"
    )
    print(header)
    for mode in ("restart", "finish"):
        for n, size in ENV_CASES:
            ours = ours_steps_per_second(n, size, steps, mode, "dict")
            arrays = ours_steps_per_second(n, size, steps, mode, "arrays")
            theirs = None
            if python is not None and (n, size) in POGEMA_CASES:
                theirs = pogema_steps_per_second(python, n, size, max(steps // 4, 25), mode)
            ratio = f"{ours / theirs:.1f}x" if theirs else "-"
            ratio_arrays = f"{arrays / theirs:.1f}x" if theirs else "-"
            theirs_text = f"{theirs:.0f}" if theirs else "-"
            print(
                f"{mode:<8} {n:>6} {f'{size}x{size}':>8} {ours:>10.0f} {arrays:>12.0f} "
                f"{theirs_text:>8} {ours * n:>21,.0f} {ratio:>10} {ratio_arrays:>12}"
            )


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    try:
        out = fn(*args, **kwargs)
    except PlanningFailed:
        out = None
    return time.perf_counter() - start, out


def planner_table(sizes: list[int]) -> None:
    grid = maps.load_map("random-32-32-10")
    topo = maps.grid_topology(grid)
    print("\n== planner wall time, random-32-32-10-random-1.scen (seconds; '-' = no solution)")
    print(
        f"{'method':<12} {'agents':>6} {'numba':>8} {'pure python':>12} {'speed-up':>9} "
        f"{'makespan':>9}"
    )
    for n in sizes:
        _, starts, goals = maps.load_scenario("random-32-32-10-random-1", n)
        for name, solver in (("pibt", pibt), ("lacam", lacam)):
            fast, paths = timed(solver, make_instance(topo, starts, goals, 120), kernel=pibt_step)
            slow, _ = timed(
                solver, make_instance(topo, starts, goals, 120), kernel=pibt_step_reference
            )
            if paths is not None:
                check(grid, starts, goals, topo.cells[paths])
            span = len(paths) - 1 if paths is not None else "-"
            print(f"{name:<12} {n:>6} {fast:>8.3f} {slow:>12.3f} {slow / fast:>8.1f}x {span:>9}")
    for n in (5, 10, 20):
        _, starts, goals = maps.load_scenario("random-32-32-10-random-1", n)
        for name, solver in (("cbs", cbs), ("prioritized", prioritized)):
            seconds, paths = timed(solver, make_instance(topo, starts, goals, 30))
            span = len(paths) - 1 if paths is not None else "-"
            print(f"{name:<12} {n:>6} {'-':>8} {seconds:>12.3f} {'-':>9} {span:>9}")


def lifelong_table(steps: int) -> None:
    print(f"\n== lifelong MAPF, {steps} steps (density 0.3): throughput = goals reached per step")
    print(f"{'agents':>6} {'map':>8} {'PIBT policy':>12} {'random':>8} {'steps/s (PIBT)':>15}")
    for n, size in ENV_CASES:
        grid = maps.random_map(size, size, 0.3, seed=0)
        kwargs = {"map": grid, "num_agents": n, "on_target": "restart", "max_steps": steps}
        env = make("mapf", **kwargs, seed=0)
        env.reset(seed=0)
        policy = PlannerPolicy("pibt")
        start = time.process_time()
        while env.agents:
            env.step(policy.actions(env))
        per_second = steps / (time.process_time() - start)
        planned = env.metrics()["throughput"]
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        while env.agents:
            env.step(dict(zip(env.agents, rng.integers(0, 5, len(env.agents)).tolist())))
        print(
            f"{n:>6} {f'{size}x{size}':>8} {planned:>12.2f} {env.metrics()['throughput']:>8.2f} "
            f"{per_second:>15.0f}"
        )


def render_table(frames: int = 50) -> None:
    grid = maps.random_map(128, 128, 0.1, seed=0)
    free = np.argwhere(~grid)
    rng = np.random.default_rng(0)
    n = 1000
    positions = free[rng.choice(len(free), n, replace=False)]
    goals = free[rng.choice(len(free), n, replace=False)]
    active = np.ones(n, dtype=bool)
    renderer = render.Renderer(grid, n)

    def ms_per_frame(draw, count: int) -> float:
        start = time.process_time()
        for _ in range(count):
            draw(positions, goals, active)
        return 1000 * (time.process_time() - start) / count

    ours = ms_per_frame(renderer, frames)
    theirs = ms_per_frame(lambda *state: render.draw_reference(grid, *state), max(frames // 10, 3))
    print("\n== rgb_array render, 1,000 agents on 128x128 (CPU ms per 640x640 frame)")
    print(f"{'Renderer':>10} {'pygame reference':>17} {'speed-up':>9}")
    print(f"{ours:>10.2f} {theirs:>17.2f} {theirs / ours:>8.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="timed env steps per repeat")
    parser.add_argument("--no-pogema", action="store_true", help="skip the POGEMA comparison")
    parser.add_argument(
        "--agents", type=int, nargs="+", default=[50, 100, 200], help="planner instance sizes"
    )
    args = parser.parse_args()
    # Compile the Numba kernels before timing anything.
    ours_steps_per_second(4, 8, 2, "restart", "dict")
    _, s, g = maps.load_scenario("random-32-32-10-random-1", 4)
    lacam(make_instance(maps.grid_topology(maps.load_map("random-32-32-10")), s, g))
    env_table(args.steps, not args.no_pogema)
    planner_table(args.agents)
    lifelong_table(args.steps)
    render_table()


if __name__ == "__main__":
    main()
