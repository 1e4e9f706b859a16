"""Traffic: metagame's Numba traffic game against highway-env, side by side in one run.

highway-env lives in its own virtualenv (benchmarks/.venvs/highway; it pulls pygame-ce, which
clashes with pygame), built here with ``python -m venv`` + ``pip install highway-env`` on first
use. Policy steps per second (every agent acts once per step; one step is 1 s of simulated
time in both: highway-env at 15 Hz internally, ours 10 substeps of 0.1 s) with random legal
meta-actions and resets when an episode ends, at matched vehicle counts:

- intersection: highway-env ``intersection-multi-agent-v0`` (2 controlled vehicles) vs our
  ``intersection`` scenario with 2 controlled vehicles;
- highway: highway-env ``highway-v0`` (50 vehicles + 1 controlled) vs our ``highway`` with
  50 background vehicles + 1 controlled;
- grid (ours only): 500 vehicles on a 6 x 6 signalised grid with 36 signal agents.

Usage: ``python benchmarks/traffic.py [--seconds 15] [--no-highway-env]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
from _venv import ensure_venv

from metagame.envs import make

HIGHWAY_ENV_RUN = r"""
import json, sys, time
import numpy as np
import gymnasium as gym
import highway_env  # noqa: F401

name, config, seconds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
env = gym.make(name, config=config)
env.reset(seed=0)
rng = np.random.default_rng(0)
space = env.action_space
steps, counts = 0, []
start = time.perf_counter()
while time.perf_counter() - start < seconds:
    action = space.sample()
    _, _, terminated, truncated, _ = env.step(action)
    counts.append(len(env.unwrapped.road.vehicles))
    steps += 1
    if terminated or truncated:
        env.reset()
elapsed = time.perf_counter() - start
print(json.dumps({"steps_per_s": steps / elapsed, "steps": steps,
                  "vehicles": float(np.mean(counts))}))
"""

HIGHWAY_ENV_CASES = {
    "intersection": ("intersection-multi-agent-v0", {}),
    "highway": ("highway-v0", {"vehicles_count": 50, "duration": 10_000}),
}


def ensure_highway_env() -> Path | None:
    """The virtualenv's python with highway-env importable, building it if needed."""
    return ensure_venv("highway", ["highway-env"], "import highway_env")


def run_highway_env(python: Path, case: str, seconds: float) -> dict | None:
    name, config = HIGHWAY_ENV_CASES[case]
    env = dict(os.environ, OMP_NUM_THREADS="1", SDL_VIDEODRIVER="dummy")
    out = subprocess.run(
        [str(python), "-c", HIGHWAY_ENV_RUN, name, json.dumps(config), str(seconds)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        print(f"highway-env {name} failed: {out.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(seconds: float, **kwargs) -> dict:
    """Steps per second of our env with random legal actions, resetting finished episodes."""
    env = make("traffic", **kwargs)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    env.step({a: 0 for a in env.agents})  # compiled kernels are cached; warm the caches
    obs, _ = env.reset(seed=0)
    steps, counts, episode = 0, [], 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        actions = {a: rng.choice(np.flatnonzero(obs[a]["action_mask"])) for a in env.agents}
        obs, *_ = env.step(actions)
        counts.append(env.num_present())
        steps += 1
        if not env.agents:
            episode += 1
            obs, _ = env.reset(seed=episode)
    elapsed = time.perf_counter() - start
    return {
        "steps_per_s": steps / elapsed,
        "steps": steps,
        "vehicles": float(np.mean(counts)),
        "metrics": env.metrics(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="wall time per measurement")
    parser.add_argument("--no-highway-env", action="store_true")
    args = parser.parse_args()

    python = None if args.no_highway_env else ensure_highway_env()
    theirs = {}
    if python is not None:
        for case in HIGHWAY_ENV_CASES:
            theirs[case] = run_highway_env(python, case, args.seconds)
    else:
        print("highway-env is not available: printing metagame's figures alone")

    # Matched vehicle counts: intersection starts near highway-env's mean count and keeps it
    # with inflow; highway starts with 50 background vehicles like highway-v0.
    target = theirs.get("intersection") or {"vehicles": 14.0}
    ours = {
        "intersection": run_ours(
            args.seconds,
            scenario="intersection",
            num_controlled=2,
            num_vehicles=min(int(round(target["vehicles"])), 24),
            inflow=300.0,
            max_steps=40,
        ),
        "highway": run_ours(
            args.seconds,
            scenario="highway",
            num_controlled=1,
            num_vehicles=50,
            inflow=1200.0,
            max_steps=40,
        ),
        "grid 6x6, 500 vehicles": run_ours(
            args.seconds,
            scenario="grid",
            grid_size=6,
            num_controlled=0,
            control_signals=True,
            num_vehicles=500,
            inflow=600.0,
            max_steps=40,
        ),
    }

    print()
    print(
        f"{'scenario':<26}{'vehicles ours/theirs':>22}{'ours steps/s':>14}"
        f"{'highway-env steps/s':>21}{'ratio':>9}"
    )
    for case, mine in ours.items():
        other = theirs.get(case)
        if other:
            vehicles = f"{mine['vehicles']:.1f}/{other['vehicles']:.1f}"
            ratio = mine["steps_per_s"] / other["steps_per_s"]
            row = f"{other['steps_per_s']:>21.1f}{ratio:>8.0f}x"
        else:
            vehicles = f"{mine['vehicles']:.1f}/-"
            row = f"{'-':>21}{'-':>9}"
        print(f"{case:<26}{vehicles:>22}{mine['steps_per_s']:>14.1f}{row}")
    grid = ours["grid 6x6, 500 vehicles"]["metrics"]
    print(
        f"\ngrid metrics: mean speed {grid['mean_speed']:.1f} m/s, throughput "
        f"{grid['throughput']:.0f} veh/h, crashed {int(grid['crashed'])}"
    )


if __name__ == "__main__":
    main()
