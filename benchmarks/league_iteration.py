"""Seconds per league iteration on the many-agent games, with the shipped configs.

Runs ``configs/mapf.yaml`` (64 agents on random-32-32-20, one team role) and
``configs/traffic.yaml`` (a 2x2 signalised grid, vehicles and signals as two roles), plus the
intersection scenario in chaotic traffic with four controlled vehicles, ``configs/
traffic_drivers.yaml`` (those vehicles as a crowd among fixed IDM drivers) and
``configs/mapf_mappo.yaml`` (the MAPF team trained by MAPPO), each for a few
iterations after one warm-up iteration, and prints the mean seconds per iteration and its
phases (training, evaluation, rating) against the target of the "league for every game" issue:
at most 60 s per iteration on 2 cores. All agents of a role map to one RLlib module, so the
EnvRunner runs one batched forward pass per module and step; evaluation plays each profile's
episodes through ``metagame.agents.arena``, which batches the agents of one policy.

Usage: python benchmarks/league_iteration.py [--iterations 3]
       [--only mapf|traffic|intersection|drivers|mapf_mappo]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TARGET_S = 60.0
CASES = {
    "mapf": ("mapf.yaml", {}),
    "traffic": ("traffic.yaml", {}),
    "intersection": (
        "traffic.yaml",
        {
            "game.kwargs": {
                "scenario": "intersection",
                "num_controlled": 4,
                "traffic": "chaotic",
                "max_steps": 100,
            }
        },
    ),
    "drivers": ("traffic_drivers.yaml", {}),
    "mapf_mappo": ("mapf_mappo.yaml", {}),
}


def measure(case: str, iterations: int) -> dict[str, float]:
    from metagame.league.config import load
    from metagame.league.runner import League

    name, overrides = CASES[case]
    cfg = load(CONFIGS / name)
    cfg = cfg.with_overrides(**overrides, **{"budget.iterations": iterations + 1})
    with tempfile.TemporaryDirectory() as run_dir:
        lg = League(cfg, run_dir)
        lg.setup()
        try:
            lg.step()  # warm-up: module construction, first compilations
            walls, phases, steps = [], [], 0
            for _ in range(iterations):
                start = time.perf_counter()
                info = lg.step()
                walls.append(time.perf_counter() - start)
                phases.append(info.seconds)
                steps += int(info.steps_per_s * walls[-1])
        finally:
            lg.algo.stop()
            lg.store.close()
            lg.run_dir.release()
    mean = {k: float(np.mean([p[k] for p in phases])) for k in phases[0]}
    return {"wall": float(np.mean(walls)), "steps_per_s": steps / sum(walls), **mean}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--only", choices=list(CASES))
    args = parser.parse_args()
    from metagame.agents.rllib import init_ray

    init_ray(num_cpus=2)
    print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
    print(
        f"{'case':14s} {'s/iteration':>12s} {'train':>7s} {'evaluate':>9s} {'rate':>6s} "
        f"{'env steps/s':>12s}  target <= {TARGET_S:.0f} s"
    )
    for case in [args.only] if args.only else list(CASES):
        r = measure(case, args.iterations)
        ok = "met" if r["wall"] <= TARGET_S else "NOT met"
        print(
            f"{case:14s} {r['wall']:12.1f} {r['train']:7.1f} {r['evaluate']:9.1f} "
            f"{r['rate']:6.1f} {r['steps_per_s']:12.0f}  {ok}"
        )


if __name__ == "__main__":
    main()
