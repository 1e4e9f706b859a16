"""Graph specs of pursuit-evasion: every malformed spec is a ValueError that names it."""

import networkx as nx
import pytest

from metagame.envs import make
from metagame.envs.markov.pursuit import make_graph


@pytest.mark.parametrize(
    "spec",
    [
        "cycle:-3",
        "path:0",
        "grid:0x3",
        "grid:2x-1",
        "star:-2",
        "cycle:abc",
        "cycle: 4",
        "grid:3",
        "petersen:3",
        "torus:3",
        "cycle:",
    ],
)
def test_malformed_specs_are_refused_by_name(spec):
    with pytest.raises(ValueError, match=f"graph spec {spec!r}"):
        make("pursuit_evasion", graph=spec)


@pytest.mark.parametrize(
    "spec, reference",
    [
        ("cycle:5", nx.cycle_graph(5)),
        ("path:4", nx.path_graph(4)),
        ("grid:2x3", nx.grid_2d_graph(2, 3)),
        ("complete:4", nx.complete_graph(4)),
        ("star:3", nx.star_graph(3)),
        ("petersen", nx.petersen_graph()),
    ],
)
def test_well_formed_specs_build_the_named_graph(spec, reference):
    assert nx.utils.graphs_equal(make_graph(spec), reference)


def test_sizes_beyond_the_tabular_export_are_refused_at_once():
    with pytest.raises(ValueError, match="pursuers give"):
        make("pursuit_evasion", num_pursuers=10**12)  # used to hang forming n ** (k + 1)
    with pytest.raises(ValueError, match="states: too many"):
        make("matrix", game="rps", rounds=10**12)  # used to run out of memory
    with pytest.raises(ValueError, match="B was given without A"):
        make("matrix", B=[[1.0, 0.0], [0.0, 1.0]])
