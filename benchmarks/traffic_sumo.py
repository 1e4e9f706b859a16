"""Traffic: metagame's traffic env against SUMO (eclipse-sumo, driven through libsumo) on the
same networks and the same routes, side by side in one run.

SUMO lives in its own virtualenv (benchmarks/.venvs/sumo: ``pip install eclipse-sumo libsumo``,
built on first use by ``_venv.ensure_venv``). Cases:

- grid: a 6 x 6 signalised grid written by SUMO's ``netgenerate`` (150 m blocks and arms, two
  lanes, fixed-time lights of 42 s green and 3 s yellow);
- cross: ``tools/game/cross/cross.net.xml``, the signalised crossing of SUMO's own examples.

Demand (seed 0): ``--rate`` trips per hour for ``--seconds`` of simulated time, evenly spaced,
each from a random entry link to a random exit link (not back where it came from), routed by
metagame's fastest path and written as a ``.rou.xml`` of vehicles with explicit routes, which
both simulators read. Each side runs the demand from an empty network with 1 s steps (SUMO's
default ``--step-length``; metagame: ``--substeps`` of ``1 / substeps`` s) and SUMO's default
car (metagame: ``traffic="sumo"``). Lights start together; SUMO follows each network's own
program (the grid's: 42 s green, 3 s yellow), metagame 42 s green and 3 s yellow per green
phase of it (the cross example's short left-turn phases merge into their approach's phase).

Both sides run ``--chunk`` simulated seconds a call (default 60): metagame
``TrafficEnv.advance(chunk)`` (the env has no agent, so one kernel call runs the chunk's steps),
SUMO ``libsumo.simulationStep(t + chunk)`` (SUMO's own loop over its 1 s steps); ``--chunk 1``
is one step a call on both sides.

Printed per case, each side by side with the ratio ours / SUMO's: vehicle-updates per CPU
second of the simulating process (``time.process_time``, so that the load of a shared machine
weighs less; one update = one vehicle advanced by one second of simulated time, so both count
the same work whatever the internal step), mean speed (vehicle-metres over vehicle-seconds on the
network) and arrivals per hour. The SUMO side reads its figures from SUMO's summary output
(one line per step, written during the timed run).

Without the SUMO virtualenv the script says why and prints metagame's figures alone, on
metagame's own 6 x 6 grid with the same geometry.

Usage: ``python benchmarks/traffic_sumo.py [--seconds 3600] [--rate 3600] [--chunk 60]
[--no-sumo]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from _venv import ensure_venv

from metagame.envs.traffic import TrafficEnv
from metagame.envs.traffic.network import Network, compile_network, from_sumo, grid
from metagame.envs.traffic.routes import Demand, read_routes, write_routes

SUMO_RUN = r"""
import json, sys, time
from xml.etree import ElementTree
import libsumo

net, routes, seconds, summary = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
chunk = int(sys.argv[5])
libsumo.start(["sumo", "-n", net, "-r", routes, "--step-length", "1", "--no-step-log",
               "--no-warnings", "--summary-output", summary, "--seed", "0"])
start = time.process_time()
for end in range(chunk, seconds + chunk, chunk):
    libsumo.simulationStep(float(min(end, seconds)))
elapsed = time.process_time() - start
libsumo.close()
steps = ElementTree.parse(summary).getroot()
running = [float(s.get("running")) for s in steps]
speeds = [max(float(s.get("meanSpeed")), 0.0) for s in steps]
print(json.dumps({
    "elapsed": elapsed,
    "vehicle_seconds": sum(running),
    "mean_speed": sum(r * v for r, v in zip(running, speeds)) / max(sum(running), 1.0),
    "arrived": float(steps[-1].get("arrived")),
    "teleports": float(steps[-1].get("teleports", 0)),
}))
"""

NETGENERATE = [
    "--grid",
    "--grid.number",
    "6",
    "--grid.length",
    "150",
    "--grid.attach-length",
    "150",
    "-L",
    "2",
    "--tls.guess",
    "true",
    "--no-warnings",
]


def sumo_home(python: Path) -> Path:
    """The installed eclipse-sumo package's folder (bin/, tools/) in the SUMO venv."""
    out = subprocess.run(
        [str(python), "-c", "import sumo; print(sumo.SUMO_HOME)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def random_demand(net: Network, rate: float, seconds: float, folder: str) -> Demand:
    """``rate`` trips per hour over ``seconds``, evenly spaced, between random entry and exit
    links (seed 0), routed by the fastest path (``routes.read_routes`` on ``<trip>``s)."""
    rng = np.random.default_rng(0)
    exits = np.flatnonzero(~np.any(net.conn_turn >= 0, axis=1))
    lines = ["<routes>"]
    count = int(rate * seconds / 3600.0)
    for k in range(count):
        origin = int(rng.choice(net.source_links))
        # not straight back out where it came in
        choices = [e for e in exits if net.link_nodes[e, 1] != net.link_nodes[origin, 0]]
        destination = int(rng.choice(choices))
        depart = k * 3600.0 / rate
        lines.append(
            f'<trip id="{k}" depart="{depart!r}" from="{net.link_names[origin]}" '
            f'to="{net.link_names[destination]}"/>'
        )
    path = os.path.join(folder, "trips.rou.xml")
    Path(path).write_text("\n".join([*lines, "</routes>"]))
    return read_routes(path, net)


def run_ours(
    net_path: str | Network, demand: Demand, seconds: int, substeps: int, chunk: int
) -> dict:
    """Times ``seconds`` env steps of 1 s (``substeps`` kernel substeps each) on the demand,
    ``chunk`` steps a call (``TrafficEnv.advance``)."""
    kwargs = dict(
        num_controlled=0,
        routes=demand,
        max_steps=seconds,
        dt=1.0 / substeps,
        substeps=substeps,
        green=42.0,
        yellow=3.0,
        traffic="sumo",
        seed=0,
    )
    network = net_path if isinstance(net_path, str) else net_path.graph
    warm = TrafficEnv(network=network, **{**kwargs, "max_steps": 5})
    warm.advance(5)  # compiled kernels are cached; warm the caches
    env = TrafficEnv(network=network, **kwargs)
    vehicle_seconds = 0.0
    start = time.process_time()
    for done in range(0, seconds, chunk):
        vehicle_seconds += float(env.advance(min(chunk, seconds - done)).sum())
    elapsed = time.process_time() - start
    metrics = env.metrics()
    return {
        "elapsed": elapsed,
        "floor": step_floor(network, kwargs, chunk),
        "vehicle_seconds": vehicle_seconds,
        "mean_speed": metrics["mean_speed"],
        "arrived": metrics["arrived"],
        "crashed": metrics["crashed"],
        "waiting": float(np.sum(np.isnan(env.departed) & (env.demand.depart <= env.t))),
    }


def step_floor(network, kwargs: dict, chunk: int, steps: int = 2000) -> float:
    """CPU seconds of one env step on the same network with no vehicle at all, ``chunk``
    steps a call: what a step costs whatever the demand (the kernel call and its substeps)."""
    empty = {**kwargs, "routes": None, "num_vehicles": 0, "inflow": 0.0, "max_steps": steps}
    env = TrafficEnv(network=network, **empty)
    env.advance(1)
    start = time.process_time()
    for done in range(0, steps, chunk):
        env.advance(min(chunk, steps - done))
    return (time.process_time() - start) / steps


def run_sumo(
    python: Path, net_path: str, routes: str, seconds: int, folder: str, chunk: int
) -> dict | None:
    summary = os.path.join(folder, "summary.xml")
    out = subprocess.run(
        [str(python), "-c", SUMO_RUN, net_path, routes, str(seconds), summary, str(chunk)],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    if out.returncode != 0:
        print(f"SUMO failed: {out.stderr.strip().splitlines()[-3:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(case: str, ours: dict, theirs: dict | None, seconds: int) -> None:
    def rows(side: dict) -> dict:
        return {
            "vehicle-updates/s": side["vehicle_seconds"] / side["elapsed"],
            "mean speed (m/s)": side["mean_speed"],
            "arrivals/h": side["arrived"] / seconds * 3600.0,
        }

    mine = rows(ours)
    other = rows(theirs) if theirs else None
    print(f"\n{case}")
    print(f"  {'':<20}{'metagame':>14}{'SUMO':>14}{'ratio':>9}")
    for name, value in mine.items():
        if other:
            print(f"  {name:<20}{value:>14.1f}{other[name]:>14.1f}{value / other[name]:>9.3f}")
        else:
            print(f"  {name:<20}{value:>14.1f}{'-':>14}{'-':>9}")
    extra = f"  metagame: {int(ours['crashed'])} crashed, {int(ours['waiting'])} still waiting"
    if theirs:
        extra += f"; SUMO: {int(theirs['teleports'])} teleported"
    print(extra)
    line = (
        f"  CPU per step: metagame {1e6 * ours['elapsed'] / seconds:.1f} us, of which"
        f" {1e6 * ours['floor']:.1f} us with no vehicle (the kernel call, its substeps)"
    )
    if theirs:
        sumo = theirs["elapsed"] / seconds
        line += f"; SUMO {1e6 * sumo:.1f} us: at most {sumo / ours['floor']:.1f}x at this demand"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600, help="simulated seconds")
    parser.add_argument("--rate", type=float, default=3600.0, help="trips per hour (grid)")
    parser.add_argument("--cross-rate", type=float, default=1800.0, help="trips per hour (cross)")
    parser.add_argument("--substeps", type=int, default=2, help="metagame substeps per second")
    parser.add_argument(
        "--chunk", type=int, default=60, help="simulated seconds a call, on both sides"
    )
    parser.add_argument("--no-sumo", action="store_true")
    args = parser.parse_args()

    python = None
    if args.no_sumo:
        print("--no-sumo: printing metagame's figures alone")
    else:
        python = ensure_venv("sumo", ["eclipse-sumo", "libsumo"], "import libsumo, sumo")
        if python is None:
            print("SUMO is not available (see above): printing metagame's figures alone")

    with tempfile.TemporaryDirectory() as folder:
        if python is None:
            net = compile_network(grid(6, spacing=150.0, lanes=2))
            demand = random_demand(net, args.rate, args.seconds, folder)
            report(
                "grid 6x6 (metagame's own)",
                run_ours(net, demand, args.seconds, args.substeps, args.chunk),
                None,
                args.seconds,
            )
            return
        home = sumo_home(python)
        grid_path = os.path.join(folder, "grid.net.xml")
        subprocess.run(
            [str(home / "bin" / "netgenerate"), *NETGENERATE, "-o", grid_path],
            check=True,
            capture_output=True,
        )
        cases = {
            "grid 6x6 (netgenerate)": (grid_path, args.rate),
            "cross (SUMO tools/game/cross)": (
                str(home / "tools" / "game" / "cross" / "cross.net.xml"),
                args.cross_rate,
            ),
        }
        for case, (net_path, rate) in cases.items():
            net = from_sumo(net_path)
            demand = random_demand(net, rate, args.seconds, folder)
            routes = os.path.join(folder, "routes.rou.xml")
            write_routes(demand, net, routes)
            theirs = run_sumo(python, net_path, routes, args.seconds, folder, args.chunk)
            ours = run_ours(net_path, demand, args.seconds, args.substeps, args.chunk)
            report(f"{case}: {demand.num_vehicles} trips", ours, theirs, args.seconds)


if __name__ == "__main__":
    main()
