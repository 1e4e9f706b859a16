"""benchmarks/mapf_lacam3.py's scenarios: what it writes for maps without an official
scenario loads with ``maps.load_scenario`` (the benchmark broke when the loader began to
require a scenario's map beside it)."""

import sys
from pathlib import Path

import numpy as np
import pytest

from metagame.envs.mapf import maps

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def bench(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import mapf_lacam3
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    monkeypatch.setattr(mapf_lacam3, "DATA", ROOT / "metagame" / "data" / "mapf")
    monkeypatch.setattr(mapf_lacam3, "SCRATCH", tmp_path)
    return mapf_lacam3


def test_drawn_scenarios_load_and_official_ones_are_used_where_large_enough(bench):
    name = "random-32-32-10"
    grid = maps.parse_map((bench.DATA / f"{name}.map").read_text())
    official = bench.scenario_for(name, grid, 100)
    assert official == bench.DATA / bench.OFFICIAL_SCEN[name]
    drawn = bench.scenario_for(name, grid, 800)  # more agents than the official 461
    assert drawn.parent == bench.SCRATCH / "scen"
    map_file, starts, goals = maps.load_scenario(str(drawn), 800)
    assert Path(map_file).read_text() == (bench.DATA / f"{name}.map").read_text()
    for cells in (starts, goals):
        assert len({tuple(c) for c in cells}) == 800  # distinct
        assert not grid[cells[:, 0], cells[:, 1]].any()  # free
    topo = maps.grid_topology(grid)
    index = {tuple(c): k for k, c in enumerate(topo.cells)}
    components = {topo.component[index[tuple(c)]] for c in np.vstack([starts, goals])}
    assert len(components) == 1  # one connected component: every goal reachable
    assert bench.scenario_for(name, grid, 800) == drawn  # written once, read again
