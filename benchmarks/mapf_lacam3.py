"""MAPF planners against LaCAM3 (Okumura, "Engineering LaCAM*", AAMAS 2024; C++, one thread).

Run: ``.venv/bin/python benchmarks/mapf_lacam3.py [--only warehouse:50,100] [--cap 30]
[--anytime 10]``.

Twenty instances: random-32-32-10 with its official ``random-1`` scenario (461 agents:
800 agents come from a drawn scenario), and warehouse-10-20-10-2-1, den520d and lak303d with
scenarios drawn with seed 0 (distinct starts and goals in the largest connected component,
written in Moving AI ``.scen`` format), each with 50, 100, 200, 400 and 800 agents. Maps and
the official scenario come from ``../shared/data/mapf`` (beside the repository, or beside a
folder of worktrees); the LaCAM3 source from ``../shared/anchors/lacam3``. LaCAM3 is built
with cmake and a C++ compiler into ``benchmarks/.venvs/lacam3-build`` (ignored by git) on
first use; when the source, cmake or the compiler is missing, or the build fails, our side
runs alone and the reason is printed.

Two tables:

1. First solution: metagame ``lacam`` (PIBT with swap, lazy distances) against LaCAM3 with every
   improvement on but the anytime part off (``--no-star``). Times are wall seconds from the
   instance (goal distances included, map loading and Numba compilation excluded) to the first
   solution; LaCAM3's are its own ``comp_time`` (DistTable and SUO included, map loading
   excluded). Each side's fastest of ``--repeat`` runs (default 3) counts. ``ratio`` is ours
   over theirs (below 1: we are faster).
2. Anytime (``--anytime S``, 0 to skip): both sides search for S seconds in all (ours: LaCAM*
   with scatter; LaCAM3: LaCAM* without ``--no-star``; one thread, so LaCAM3's refiner threads
   stay off); wall seconds, sums of costs and their ratio (ours over theirs).

Both sides' paths are checked with :func:`metagame.agents.planners.check`; a plan that fails the
check is reported as such, never counted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from metagame.agents.planners import PlanningFailed, check, make_instance, sum_of_costs
from metagame.agents.planners.lacam import lacam
from metagame.agents.planners.pibt import compile_kernels
from metagame.envs.mapf import maps

ROOT = Path(__file__).resolve().parent.parent
# ../shared beside the repository (or beside the folder holding a git worktree of it)
SHARED = next(
    (p / "shared" for p in ROOT.parents if (p / "shared" / "data").is_dir()), ROOT.parent / "shared"
)
DATA = SHARED / "data" / "mapf"
SOURCE = SHARED / "anchors" / "lacam3"
SCRATCH = Path(__file__).resolve().parent / ".venvs"
MAPS = ["random-32-32-10", "warehouse-10-20-10-2-1", "den520d", "lak303d"]
OFFICIAL_SCEN = {"random-32-32-10": "random-32-32-10-random-1.scen"}
AGENTS = [50, 100, 200, 400, 800]


def write_scenario(grid: np.ndarray, map_name: str, path: Path, count: int, seed: int = 0):
    """A Moving AI ``.scen`` with ``count`` distinct starts and goals drawn with ``seed`` from the
    largest connected component; the last column is the BFS distance."""
    topo = maps.grid_topology(grid)
    largest = np.flatnonzero(topo.component == np.bincount(topo.component).argmax())
    rng = np.random.default_rng(seed)
    starts = rng.choice(largest, count, replace=False)
    goals = rng.choice(largest, count, replace=False)
    h, w = grid.shape
    lines = ["version 1"]
    for k, (s, g) in enumerate(zip(starts, goals)):
        (sr, sc), (gr, gc) = topo.cells[s], topo.cells[g]
        d = topo.distances(int(g))[s]
        lines.append(f"{k // 10}\t{map_name}.map\t{w}\t{h}\t{sc}\t{sr}\t{gc}\t{gr}\t{d}")
    path.write_text("\n".join(lines) + "\n")


def scenario_for(map_name: str, grid: np.ndarray, n: int) -> Path:
    """The official scenario if it has ``n`` agents, else one drawn with seed 0."""
    if map_name in OFFICIAL_SCEN:
        official = DATA / OFFICIAL_SCEN[map_name]
        if len(maps.load_scenario(str(official))[1]) >= n:
            return official
    path = SCRATCH / "scen" / f"{map_name}-seed0.scen"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_scenario(grid, map_name, path, max(AGENTS))
    beside = path.parent / f"{map_name}.map"  # a scenario's map must lie beside it
    if not beside.exists():
        shutil.copyfile(DATA / f"{map_name}.map", beside)
    return path


def build_lacam3(build: Path) -> tuple[Path | None, str]:
    """LaCAM3's ``main`` binary, built on first use; or None and the reason."""
    binary = build / "main"
    if binary.exists():
        return binary, "ok"
    if not (SOURCE / "CMakeLists.txt").exists():
        return None, f"no LaCAM3 source at {SOURCE}"
    missing = [tool for tool in ("cmake", "make", "c++") if shutil.which(tool) is None]
    if missing:
        return None, f"cannot build LaCAM3: {', '.join(missing)} not found"
    try:
        subprocess.run(
            ["cmake", "-S", str(SOURCE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            ["make", "-C", str(build), "main"], check=True, capture_output=True, timeout=1800
        )
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", b"") or b""
        return None, f"LaCAM3 build failed ({type(err).__name__}: {detail[-300:]!r})"
    return binary, "ok"


def run_lacam3(binary: Path, map_path: Path, scen: Path, n: int, seconds: int, star: bool):
    """``(seconds, paths (T+1, n, 2) in (row, col))`` or ``(seconds, None)`` if unsolved."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        command = [str(binary), "-m", str(map_path), "-i", str(scen), "-N", str(n)]
        command += ["-t", str(seconds), "-v", "0", "--no-multi-thread", "-o", str(out)]
        if not star:
            command.append("--no-star")
        subprocess.run(command, check=True, capture_output=True, timeout=seconds + 600)
        fields, solution = {}, []
        lines = out.read_text().splitlines()
        for k, line in enumerate(lines):
            if line == "solution=":
                solution = lines[k + 1 :]
                break
            key, _, value = line.partition("=")
            fields[key] = value
    seconds_taken = float(fields["comp_time"]) / 1000
    if fields.get("solved") != "1":
        return seconds_taken, None
    xy = [
        [tuple(map(int, c.split(","))) for c in row.split(":")[1].strip("(),").split("),(")]
        for row in solution
        if row
    ]
    return seconds_taken, np.array(xy, dtype=np.int64)[..., ::-1]


def run_ours(topo, starts, goals, seconds: float, anytime: float | None):
    begin = time.perf_counter()
    try:
        inst = make_instance(topo, starts, goals, time_limit=seconds)
        configs = lacam(inst) if anytime is None else lacam(inst, anytime=anytime)
    except PlanningFailed:
        return time.perf_counter() - begin, None
    return time.perf_counter() - begin, topo.cells[configs]


def fastest(repeat: int, run, *args, **kwargs):
    """``(seconds, paths)`` of the fastest of ``repeat`` runs (both sides are deterministic:
    the repeats only filter out the load of a shared machine)."""
    return min((run(*args, **kwargs) for _ in range(repeat)), key=lambda out: out[0])


def verified_cost(grid, starts, goals, paths) -> str:
    if paths is None:
        return "-"
    try:
        check(grid, starts, goals, paths)
    except ValueError as err:
        return f"INVALID ({err})"
    return str(sum_of_costs(paths, goals))


def parse_only(text: str | None) -> dict[str, list[int]]:
    if not text:
        return {m: AGENTS for m in MAPS}
    chosen = {}
    for part in text.split(";"):
        name, _, counts = part.partition(":")
        match = [m for m in MAPS if m.startswith(name)]
        if len(match) != 1:
            raise SystemExit(f"--only: {name!r} matches {match or 'no map'} of {MAPS}")
        chosen[match[0]] = [int(c) for c in counts.split(",")] if counts else AGENTS
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="e.g. 'warehouse:50,100;den520d' (default: all 20)")
    parser.add_argument("--cap", type=int, default=30, help="seconds per first-solution run")
    parser.add_argument("--anytime", type=int, default=10, help="anytime budget (0: skip)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="first-solution runs per side (fastest kept)"
    )
    parser.add_argument(
        "--build", type=Path, default=SCRATCH / "lacam3-build", help="LaCAM3 build directory"
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"no Moving AI maps at {DATA}: this benchmark needs ../shared/data/mapf")
    binary, status = build_lacam3(args.build)
    print(f"LaCAM3: {status if binary is None else binary}")
    compile_kernels()
    rows = []
    print("\n== first solution (seconds, sum of costs; ratio = ours / LaCAM3)")
    print(
        f"{'map':<24} {'agents':>6} {'ours s':>8} {'LaCAM3 s':>9} {'ratio':>7} "
        f"{'ours SoC':>9} {'LaCAM3 SoC':>11} {'SoC ratio':>9}"
    )
    chosen = parse_only(args.only)
    for map_name, map_path, grid, topo, n, scen, starts, goals in instances(chosen):
        ours_s, ours_paths = fastest(args.repeat, run_ours, topo, starts, goals, args.cap, None)
        ours_cost = verified_cost(grid, starts, goals, ours_paths)
        theirs_s, theirs_cost = None, "-"
        if binary is not None:
            theirs_s, paths = fastest(
                args.repeat, run_lacam3, binary, map_path, scen, n, args.cap, star=False
            )
            theirs_cost = verified_cost(grid, starts, goals, paths)
        rows.append((map_name, n, ours_s, ours_cost, theirs_s, theirs_cost))
        print_row(*rows[-1])
    summary(rows, binary is not None)
    if args.anytime > 0:
        anytime_table(chosen, binary, args.anytime)


def instances(chosen: dict[str, list[int]]):
    """Each chosen instance: (map name, map file, grid, topology, agents, scenario file,
    starts, goals), the map read once for all its agent counts."""
    for map_name, counts in chosen.items():
        map_path = DATA / f"{map_name}.map"
        grid = maps.parse_map(map_path.read_text(), name=str(map_path))
        topo = maps.grid_topology(grid)
        for n in counts:
            scen = scenario_for(map_name, grid, n)
            _, starts, goals = maps.load_scenario(str(scen), n)
            yield map_name, map_path, grid, topo, n, scen, starts, goals


def both_solved(ours_cost: str, theirs_cost: str) -> bool:
    return ours_cost.isdigit() and theirs_cost.isdigit()


def print_row(map_name, n, ours_s, ours_cost, theirs_s, theirs_cost):
    theirs_text = f"{theirs_s:.3f}" if theirs_s is not None else "-"
    ratio = soc_ratio = "-"
    if both_solved(ours_cost, theirs_cost):
        ratio = f"{ours_s / max(theirs_s, 1e-3):.2f}"
        soc_ratio = f"{int(ours_cost) / int(theirs_cost):.3f}"
    print(
        f"{map_name:<24} {n:>6} {ours_s:>8.3f} {theirs_text:>9} {ratio:>7} "
        f"{ours_cost:>9} {theirs_cost:>11} {soc_ratio:>9}",
        flush=True,
    )


def summary(rows, with_lacam3: bool) -> None:
    solved = sum(r[3].isdigit() for r in rows)
    print(f"\nours solved {solved}/{len(rows)}", end="")
    if not with_lacam3:
        print(" (LaCAM3 not run)")
        return
    theirs = sum(r[5].isdigit() for r in rows)
    ratios = [r[2] / max(r[4], 1e-3) for r in rows if both_solved(r[3], r[5])]
    print(f"; LaCAM3 solved {theirs}/{len(rows)}")
    if ratios:
        print(
            f"median time ratio (ours / LaCAM3) {statistics.median(ratios):.2f}; "
            f"instances where ours is slower: {sum(r > 1 for r in ratios)}/{len(ratios)}"
        )


def anytime_table(chosen, binary, budget: int) -> None:
    print(f"\n== anytime, {budget} s budget (sum of costs; ratio = ours / LaCAM3)")
    print(
        f"{'map':<24} {'agents':>6} {'ours s':>7} {'LaCAM3 s':>8} {'ours SoC':>9} "
        f"{'LaCAM3 SoC':>11} {'ratio':>7}"
    )
    ratios = []
    for map_name, map_path, grid, topo, n, scen, starts, goals in instances(chosen):
        ours_s, ours_paths = run_ours(topo, starts, goals, budget + 5, budget)
        ours_cost = verified_cost(grid, starts, goals, ours_paths)
        theirs_cost, theirs_s = "-", None
        if binary is not None:
            theirs_s, paths = run_lacam3(binary, map_path, scen, n, budget, star=True)
            theirs_cost = verified_cost(grid, starts, goals, paths)
        ratio = "-"
        if both_solved(ours_cost, theirs_cost):
            ratios.append(int(ours_cost) / int(theirs_cost))
            ratio = f"{ratios[-1]:.3f}"
        print(
            f"{map_name:<24} {n:>6} {ours_s:>7.2f} "
            f"{'-' if theirs_s is None else f'{theirs_s:.2f}':>8} {ours_cost:>9} "
            f"{theirs_cost:>11} {ratio:>7}",
            flush=True,
        )
    if ratios:
        print(
            f"median SoC ratio {statistics.median(ratios):.3f}; worst {max(ratios):.3f}; "
            f"within 5%: {sum(r <= 1.05 for r in ratios)}/{len(ratios)}"
        )


if __name__ == "__main__":
    main()
