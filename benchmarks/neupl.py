"""NeuPL and Simplex-NeuPL beside the league's PSRO: exact exploitability over wall time.

Each side runs alone, one after another, for the same wall budget on the same game and seed:

- neupl: :class:`metagame.agents.neupl.NeuPL` with ``simplex=0`` (Liu et al., ICLR 2022), in
  this process; its answer is the meta-Nash mixture over its slots (slot 0 is uniform play);
- simplex-neupl: the same with half of the episodes conditioned on Dirichlet draws (Liu et al.,
  ICML 2022);
- league psro: ``league start`` on the game's shipped config (the PSRO quickstart on Kuhn,
  ``configs/leduc.yaml`` on Leduc) in a subprocess, read from its progress.csv, through
  ``benchmarks/league_quality.py``'s helpers.

Exploitability is exact (OpenSpiel's best response to the answer's behavioural policy). A NeuPL
side's clock starts before the trainer is built and leaves out its own evaluations; the
league's is the time since ``league start`` was launched and includes its evaluations (which
can only favour NeuPL; the league's Ray start-up is also on its clock). Env steps/s: every move
of every game played (both seats), over the whole run.

    python benchmarks/neupl.py                          # Kuhn, 300 s per side
    python benchmarks/neupl.py --games kuhn_poker leduc_poker --budget 300
    python benchmarks/neupl.py --skip-league --variants simplex-neupl
"""

from __future__ import annotations

import argparse
import os
import time

from league_quality import (  # benchmarks/ is on sys.path as a script
    GAMES,
    fmt,
    league_config,
    load_average,
    run_league,
    shipped_config,
    steps_per_s,
    value_at,
)

from metagame.agents.neupl import NeuPL, NeuPLConfig

VARIANTS = {"neupl": 0.0, "simplex-neupl": 0.5}  # name -> fraction of simplex episodes
TIMES = [15, 30, 60, 120, 300, 600, 1200]
DEFAULT_BUDGET = {"kuhn_poker": 300.0, "leduc_poker": 600.0}
EVALUATIONS = 40  # evaluations per budget (and one just before each table time)


def run_neupl(game: str, config: NeuPLConfig, budget: float, times: list[float]) -> list[dict]:
    """(wall, exploitability, env steps) samples of one NeuPL run."""
    start, paused = time.perf_counter(), 0.0
    neupl = NeuPL(f"openspiel:{game}", config=config)
    due = sorted(
        {budget * k / EVALUATIONS for k in range(1, EVALUATIONS + 1)}
        | {0.97 * t for t in times if t <= budget}
    )
    samples: list[dict] = []
    while due:
        neupl.update()
        wall = time.perf_counter() - start - paused
        if wall < due[0] and wall < budget:
            continue
        while due and due[0] <= wall:
            due.pop(0)
        t = time.perf_counter()
        evaluation = neupl.evaluate()
        paused += time.perf_counter() - t
        samples.append(
            {
                "wall": wall,
                "exploitability": evaluation.exploitability,
                "steps": neupl.env_steps,
                "updates": neupl.updates,
                "answer": evaluation.answer.round(3).tolist(),
            }
        )
        if wall >= budget:
            break
    return samples


def print_table(game: str, times: list[float], sides: dict[str, dict]) -> None:
    names = list(sides)
    print(f"\n{GAMES[game]} ({game}): exact exploitability at each wall time")
    print(f"{'wall s':>7}" + "".join(f"{n:>16}" for n in names))
    for t in times:
        print(f"{t:>7g}" + "".join(f"{fmt(value_at(sides[n]['samples'], t)):>16}" for n in names))
    print("env steps/s over the whole run (wall as above)")
    for n in names:
        side = sides[n]
        note = f"   [{side['note']}]" if side.get("note") else ""
        rate = fmt(steps_per_s(side["samples"]))
        print(f"  {n:<16}{rate:>10}   load avg at start {side['load']}{note}")
    for n in names:
        last = sides[n]["samples"][-1] if sides[n]["samples"] else {}
        if "answer" in last:
            print(f"  {n}: {last['updates']} updates; answer over slots {last['answer']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", choices=list(GAMES), default=["kuhn_poker"])
    parser.add_argument("--budget", type=float, default=None, help="seconds per side")
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--slots", type=int, default=NeuPLConfig.num_slots)
    parser.add_argument("--skip-league", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.budget is not None and args.budget <= 0:
        parser.error("--budget: must be > 0")
    print(
        f"NeuPL vs the league, seed {args.seed}, {os.cpu_count()} CPUs, {args.slots} slots, "
        f"load average at start {load_average()} (1, 5, 15 min)"
    )
    for game in args.games:
        budget = args.budget or DEFAULT_BUDGET[game]
        times = [t for t in TIMES if t < budget] + [budget]
        sides: dict[str, dict] = {}
        for name in args.variants:
            print(f"[{game}] {name} for {budget:g} s ...", flush=True)
            load = load_average()
            config = NeuPLConfig(num_slots=args.slots, simplex=VARIANTS[name], seed=args.seed)
            sides[name] = {"samples": run_neupl(game, config, budget, times), "load": load}
        if not args.skip_league:
            print(f"[{game}] league psro for {budget:g} s ...", flush=True)
            load = load_average()
            cfg = league_config(shipped_config(game), game, None, budget, args.seed)
            samples, note = run_league(cfg, budget)
            sides["league psro"] = {"samples": samples, "load": load, "note": note}
        print_table(game, times, sides)
    print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
