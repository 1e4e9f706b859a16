"""League quality: exact exploitability of the league against OpenSpiel's learners over wall time.

On Kuhn and Leduc poker, each side runs alone in its own subprocess (one after another, so each
has the CPU to itself) under the same wall budget, and reports (wall seconds, exploitability)
samples; the table gives, at each sampled wall time, the value of each side's last sample at
or before it. Exploitability is exact: OpenSpiel's best response against the side's answer,
averaged over the two players (``exploitability.exploitability``).

- NFSP (Heinrich and Silver 2016): OpenSpiel's PyTorch NFSP, its average policy;
- PSRO-rl (Lanctot et al. 2017): OpenSpiel's ``psro_v2`` with DQN oracles (``rl_oracle``), the
  meta-Nash mixture; it runs in the anchor virtualenv of ``_openspiel_jax.py``;
- OS-MCCFR and CFR+: OpenSpiel's C++ tabular solvers, the floor;
- league <mode>: ``league start`` on the game's shipped config (``configs/quickstart.yaml`` for
  Kuhn, ``configs/leduc.yaml`` for Leduc; ``--league-config`` to start from another one), in its
  own mode or one column per ``--league-mode``; its curve is progress.csv's exploitability,
  timed by this script from the launch of ``league start`` (Ray's start-up included);
- with ``--answers``, two more columns per league run, from the same run's players: its last
  snapshot alone (the last iterate) and the uniform mixture of every snapshot so far (the
  average policy, fictitious play's and NFSP's answer; ``meta_solver: uniform``), each as of
  the iteration that made it, to say which answer wins (the league's own is the meta-Nash).

The anchors' clocks leave out their evaluations (the league's includes its own), which can
only favour the anchors. The ratio column is best-of(NFSP, PSRO-rl) / league (target >= 5).

    python benchmarks/league_quality.py                  # Kuhn to 600 s, Leduc to 1200 s
    python benchmarks/league_quality.py --quick          # Kuhn only, 60 s per side
    python benchmarks/league_quality.py --skip-league --save anchors.json
    python benchmarks/league_quality.py --skip-anchors --load anchors.json --league-mode psro
    python benchmarks/league_quality.py --skip-anchors --league-mode selfplay --answers
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import yaml
from _openspiel_jax import ensure_openspiel_jax  # benchmarks/ is on sys.path as a script

from metagame.league.modes import MODES
from metagame.league.run_dir import RunDir

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANCHOR_SCRIPT = HERE / "_openspiel_anchors.py"

GAMES = {"kuhn_poker": "Kuhn poker", "leduc_poker": "Leduc poker"}
TIMES = {"kuhn_poker": [30, 60, 120, 300, 600], "leduc_poker": [30, 60, 120, 300, 600, 1200]}
QUICK_TIMES = [20, 40, 60]
# The targets: (exploitability, within seconds).
TARGETS = {"kuhn_poker": (0.02, 600), "leduc_poker": (0.25, 1200)}
RATIO_TARGET = 5.0
ANCHOR_GRACE_S = 120.0

ANCHORS = {"nfsp": "NFSP", "psro": "PSRO-rl", "mccfr": "OS-MCCFR", "cfr_plus": "CFR+"}
RL_ANCHORS = ("nfsp", "psro")
FLOOR = ("mccfr", "cfr_plus")
# PSRO's per-iteration budgets, smaller than psro_v2_example's (10 000 episodes per response,
# 1000 simulations per meta-game entry) so that it completes iterations within these budgets.
PSRO_OPTIONS = {"episodes_per_response": 2000, "sims_per_entry": 200}

# The league run on each game when no --league-config is given: the shipped config.
SHIPPED = {"kuhn_poker": "quickstart.yaml", "leduc_poker": "leduc.yaml"}


def shipped_config(game: str) -> dict:
    return yaml.safe_load((REPO / "configs" / SHIPPED[game]).read_text())


Sample = dict  # {"wall": s, "exploitability": x, "steps": n}


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def schedule(times: Sequence[float], budget: float) -> list[float]:
    """Evaluation times of an anchor: every 1/40 of the budget and just before each time the
    table samples, so that the value at each of them is measured close to it."""
    grid = [budget * k / 40 for k in range(1, 40)]
    return sorted({round(t, 3) for t in grid + [0.98 * t for t in times if t <= budget]})


def value_at(samples: Sequence[Sample], t: float) -> float | None:
    """The exploitability of the last sample at or before ``t`` (None before the first)."""
    before = [s for s in samples if s["wall"] <= t and s.get("exploitability") is not None]
    return before[-1]["exploitability"] if before else None


def first_below(samples: Sequence[Sample], target: float) -> Sample | None:
    """The first sample whose exploitability is at most ``target`` (None if none is)."""
    return next(
        (
            s
            for s in samples
            if s.get("exploitability") is not None and s["exploitability"] <= target
        ),
        None,
    )


def steps_per_s(samples: Sequence[Sample]) -> float | None:
    """Env steps per second over the run (None where the side does not sample games)."""
    last = samples[-1] if samples else None
    if not last or not last.get("steps") or last["wall"] <= 0:
        return None
    return last["steps"] / last["wall"]


# -- running the sides ------------------------------------------------------------------------


def _kill_group(proc: subprocess.Popen) -> None:
    """Stops ``proc`` and everything it started (its own process group: start_new_session)."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def run_anchor(
    python: str, algo: str, game: str, budget: float, times: Sequence[float], seed: int
) -> tuple[list[Sample], str]:
    """One anchor's samples, and a note (empty, or why the run failed or was cut).

    Samples after the budget do not enter the table, so an anchor whose training clock has
    passed the budget (its wall time less its evaluations, as of its last sample, plus a grace
    for an evaluation under way) is stopped rather than left to finish a long chunk."""
    args = [python, str(ANCHOR_SCRIPT), algo, game, str(budget)]
    args += [json.dumps(schedule(times, budget)), str(seed), json.dumps(PSRO_OPTIONS)]
    samples: list[Sample] = []
    lines: queue.Queue[str | None] = queue.Queue()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        start, note, paused = time.perf_counter(), "", 0.0
        try:
            while True:
                try:
                    line = lines.get(timeout=1.0)
                except queue.Empty:
                    if time.perf_counter() - start > budget + paused + ANCHOR_GRACE_S:
                        note = "stopped past its budget"
                        break
                    continue
                if line is None:
                    break
                if line.startswith('{"wall"'):  # OpenSpiel's PSRO prints its own lines too
                    samples.append(json.loads(line))
                    paused = samples[-1]["paused"]
        finally:
            _kill_group(proc)
            proc.wait()
        if proc.returncode not in (0, -signal.SIGINT, -signal.SIGKILL) or not samples:
            err.seek(0)
            note = f"failed (exit {proc.returncode}): {err.read().strip()[-300:]}"
    return samples, note


def _pump(stream, lines: queue.Queue) -> None:
    """Copies ``stream``'s lines into ``lines``, then None."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def mode_section(base: dict, mode: str | None) -> dict:
    """The config's mode section for ``mode`` (None: the base's own; the base's settings when
    it names that mode, else the mode's defaults)."""
    own = base.get("mode", "selfplay")
    own = {"name": own} if isinstance(own, str) else dict(own)
    return own if mode is None or mode == own["name"] else {"name": mode}


def mode_label(section: dict) -> str:
    return section["name"] + (" exact" if section.get("oracle") == "exact" else "")


def league_config(base: dict, game: str, mode: str | None, budget: float, seed: int) -> dict:
    """``base`` on ``game`` in ``mode``, stopped by the wall budget alone."""
    section = mode_section(base, mode)
    name = f"quality-{game}-{mode_label(section).replace(' ', '-')}"
    cfg = {**base, "name": name, "mode": section, "seed": seed}
    cfg["game"] = {"name": f"openspiel:{game}", "kwargs": base.get("game", {}).get("kwargs", {})}
    cfg["budget"] = {"wall_time_s": float(budget), "iterations": None, "steps": None}
    cfg["evaluation"] = {**base.get("evaluation", {}), "exploitability": True}
    return cfg


def run_league(
    cfg: dict, budget: float, answers: bool = False
) -> tuple[list[Sample], str, dict[str, list[Sample]]]:
    """``league start`` on ``cfg`` in a fresh run directory; samples timed from its launch,
    and (``answers``) those of the other answers the run could give (:func:`answer_curves`)."""
    with tempfile.TemporaryDirectory(prefix="league-quality-") as tmp:
        config_path = Path(tmp) / "league.yaml"
        config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        run_dir = Path(tmp) / "run"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "metagame.league.cli", "start", str(config_path)]
        command += ["--run-dir", str(run_dir), "--quiet"]
        log = (Path(tmp) / "league.log").open("w")
        start = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        seen: dict[int, Sample] = {}
        try:
            while proc.poll() is None and time.perf_counter() - start < 1.25 * budget + 180:
                time.sleep(0.5)
                _read_progress(run_dir, seen, time.perf_counter() - start)
        finally:
            _kill_group(proc)
            proc.wait()
            log.close()
        _read_progress(run_dir, seen, time.perf_counter() - start)
        note = ""
        if proc.returncode != 0:
            tail = (Path(tmp) / "league.log").read_text().strip().splitlines()[-3:]
            note = f"league exit {proc.returncode}: {' | '.join(tail)[-300:]}"
        samples = [seen[k] for k in sorted(seen)]
        curves = answer_curves(run_dir, cfg["game"], seen) if answers and samples else {}
    return samples, note, curves


def answer_curves(run_dir: Path, game: dict, seen: dict[int, Sample]) -> dict[str, list[Sample]]:
    """The exact exploitability, at each iteration of the run, of its last snapshot alone and
    of the uniform mixture of its snapshots so far (both seats play the same mixture: the
    shipped configs tie the two seats into one population)."""
    from metagame.league.exploitability import mixture_exploitability
    from metagame.league.population import load_player
    from metagame.league.store import Store

    with Store(run_dir, readonly=True) as store:
        players = sorted(store.players(), key=lambda p: p.seq)
    policies = [load_player(run_dir, p) for p in players]
    curves: dict[str, list[Sample]] = {"last": [], "average": []}
    values: dict[int, tuple[float, float]] = {}
    for it in sorted(seen):
        n = sum(p.iteration <= it for p in players)
        if n not in values:
            last = [0.0] * (n - 1) + [1.0]
            value = [
                mixture_exploitability(game["name"], game["kwargs"], policies[:n], [w, w])
                for w in (last, [1.0 / n] * n)
            ]
            values[n] = tuple(value)
        for name, value in zip(curves, values[n], strict=True):
            curves[name].append({**seen[it], "exploitability": value})
    return curves


def _read_progress(run_dir: Path, seen: dict[int, Sample], now: float) -> None:
    """New progress.csv rows, stamped with ``now`` (seconds since ``league start``)."""
    path = RunDir(run_dir).progress
    if not path.is_file():
        return
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            it = int(row["iteration"])
            if it not in seen:
                value = row.get("exploitability")
                seen[it] = {
                    "wall": now,
                    "league_wall": float(row["wall"]),
                    "exploitability": float(value) if value else None,
                    "steps": int(row["steps"]),
                    "steps_per_s": float(row["steps_per_s"]),
                    "league_size": int(row["league_size"]),
                }


# -- the table --------------------------------------------------------------------------------


def fmt(x: float | None, mark: str = "") -> str:
    return "-" if x is None else f"{x:.4g}{mark}"


def print_game(game: str, times: Sequence[float], sides: dict[str, dict]) -> None:
    """The side-by-side table of one game, ratios, targets and throughput."""
    names = list(sides)
    rl = [n for n in names if n in (ANCHORS[a] for a in RL_ANCHORS)]
    leagues = [n for n in names if n.startswith("league")]
    ratioed = leagues if rl else []  # a ratio column per league side, against the RL anchors
    width = {n: max(17, len(n) + 2) for n in names}
    ratio_names = {n: "RL best/" + n.removeprefix("league ") for n in ratioed}
    ratio_width = {n: max(18, len(r) + 2) for n, r in ratio_names.items()}
    head = f"{'wall s':>7}" + "".join(f"{n:>{width[n]}}" for n in names)
    head += "".join(f"{ratio_names[n]:>{ratio_width[n]}}" for n in ratioed)
    print(f"\n{GAMES[game]} ({game}): exact exploitability at each wall time")
    print(head)
    ratios_of: dict[str, list[tuple[float, float | None]]] = {n: [] for n in ratioed}
    for t in times:
        row = f"{t:>7g}"
        for n in names:
            side = sides[n]
            mark = "*" if t > side["budget"] else ""
            row += f"{fmt(value_at(side['samples'], t), mark):>{width[n]}}"
        best = [value_at(sides[n]["samples"], t) for n in rl]
        best_rl = min((b for b in best if b is not None), default=None)
        for n in ratioed:
            ours = value_at(sides[n]["samples"], t)
            ratio = None if best_rl is None or not ours else best_rl / ours
            ratios_of[n].append((t, ratio))
            row += f"{fmt(ratio, 'x'):>{ratio_width[n]}}"
        print(row)
    if any(t > side["budget"] for side in sides.values() for t in times):
        print("  * the side stopped earlier (its budget); the value is its last sample")
    target, within = TARGETS[game]
    print(
        f"targets: exploitability <= {target} within {within} s; "
        f"RL best/league >= {RATIO_TARGET:g}x"
    )
    for n in leagues:
        first = first_below(sides[n]["samples"], target)
        if first is not None and first["wall"] <= within:
            print(
                f"  {n}: {fmt(first['exploitability'])} at {first['wall']:.0f} s "
                f"(first sample <= {target}): met"
            )
        elif sides[n]["budget"] < within:
            print(f"  {n}: not reached in its budget, {sides[n]['budget']:g} s: not measured")
        else:
            print(f"  {n}: {fmt(value_at(sides[n]['samples'], within))} at {within} s: NOT met")
        ratios = [r for r in ratios_of.get(n, []) if r[1] is not None]
        if ratios:
            worst = min(ratios, key=lambda r: r[1])
            verdict = "met" if worst[1] >= RATIO_TARGET else "NOT met"
            print(
                f"  {n}: RL best/league at every sampled time: lowest {worst[1]:.3g}x "
                f"at {worst[0]:g} s: {verdict}"
            )
    print("env steps/s: over the whole run (wall since launch); the league's own, last iteration")
    for n in names:
        samples = sides[n]["samples"]
        rate = steps_per_s(samples)
        own = samples[-1].get("steps_per_s") if samples else None
        extra = f"   [{sides[n]['note']}]" if sides[n].get("note") else ""
        load = sides[n].get("load", "")
        label = f"{n:<{max(18, *map(len, names))}}"
        print(f"  {label}{fmt(rate):>10}{fmt(own):>10}   load avg at start {load}{extra}")


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", nargs="+", choices=list(GAMES), default=list(GAMES))
    parser.add_argument("--budget", type=float, default=None, help="seconds per side (max)")
    parser.add_argument("--quick", action="store_true", help="Kuhn only, 60 s per side")
    parser.add_argument(
        "--floor-budget", type=float, default=120.0, help="seconds for OS-MCCFR and CFR+"
    )
    parser.add_argument("--anchors", nargs="*", choices=list(ANCHORS), default=list(ANCHORS))
    parser.add_argument("--skip-anchors", action="store_true")
    parser.add_argument("--skip-league", action="store_true")
    parser.add_argument("--league-config", default=None, help="a league YAML to start from")
    parser.add_argument(
        "--league-mode",
        nargs="+",
        choices=list(MODES),
        default=None,
        help="one league column per mode (default: the config's own mode)",
    )
    parser.add_argument(
        "--answers",
        action="store_true",
        help="also the league's last snapshot and its average policy (uniform over snapshots)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write every side's samples (JSON)")
    parser.add_argument("--load", default=None, help="add the sides of a saved run")
    args = parser.parse_args()
    if args.budget is not None and args.budget <= 0:
        parser.error("--budget: must be > 0")

    base = None
    if args.league_config:
        try:
            base = yaml.safe_load(Path(args.league_config).read_text())
        except (OSError, yaml.YAMLError) as err:
            parser.error(f"--league-config {args.league_config}: {err}")
        if not isinstance(base, dict):
            parser.error(f"--league-config {args.league_config}: not a mapping")
    modes = args.league_mode or [None]

    games = ["kuhn_poker"] if args.quick else args.games
    saved = json.loads(Path(args.load).read_text()) if args.load else {}
    results: dict[str, dict[str, dict]] = {g: dict(saved.get(g, {})) for g in games}
    python_jax = None
    if "psro" in args.anchors and not args.skip_anchors:
        python_jax = ensure_openspiel_jax()
        if python_jax is None:
            print("PSRO-rl is not available (see above)")

    print(
        f"league quality, seed {args.seed}, {os.cpu_count()} CPUs, "
        f"load average at start {load_average()} (1, 5, 15 min)\n"
        "wall: the anchors' training seconds (their evaluations left out); the league's "
        "seconds since `league start` was launched\n"
        f"PSRO-rl: DQN oracles, Nash meta-solver, {PSRO_OPTIONS}; "
        f"OS-MCCFR and CFR+ run for at most {args.floor_budget:g} s"
    )
    for game in games:
        times = QUICK_TIMES if args.quick else TIMES[game]
        if args.budget is not None:
            times = [t for t in times if t < args.budget] + [args.budget]
        budget = max(times)
        sides = results[game]
        if not args.skip_anchors:
            for algo in args.anchors:
                if algo == "psro" and python_jax is None:
                    continue
                side_budget = min(budget, args.floor_budget) if algo in FLOOR else budget
                python = str(python_jax) if algo == "psro" else sys.executable
                print(f"[{game}] {ANCHORS[algo]} for {side_budget:g} s ...", flush=True)
                load = load_average()
                samples, note = run_anchor(python, algo, game, side_budget, times, args.seed)
                sides[ANCHORS[algo]] = {
                    "samples": samples,
                    "budget": side_budget,
                    "note": note,
                    "load": load,
                }
        if not args.skip_league:
            config = base or shipped_config(game)
            for mode in modes:
                name = f"league {mode_label(mode_section(config, mode))}"
                print(f"[{game}] {name} for {budget:g} s ...", flush=True)
                load = load_average()
                cfg = league_config(config, game, mode, budget, args.seed)
                samples, note, curves = run_league(cfg, budget, args.answers)
                sides[name] = {"samples": samples, "budget": budget, "note": note, "load": load}
                for answer, curve in curves.items():
                    sides[f"{name} ({answer})"] = {"samples": curve, "budget": budget, "load": load}
        if args.save:
            Path(args.save).write_text(json.dumps(results, indent=1))
        print_game(game, times, sides)
    print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
