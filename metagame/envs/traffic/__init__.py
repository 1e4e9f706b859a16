"""Traffic: a road-network Markov game with IDM/MOBIL background drivers of mixed types,
controlled vehicles choosing meta-actions and signal controllers choosing phases
(``make("traffic", scenario=...)``; ``TrafficEnv`` in ``env.py``, the Numba substeps in
``core.py``, vehicles entering and leaving and the whole step in ``flow.py``, road networks in
``network.py``)."""

from metagame.envs.traffic.env import TrafficEnv
from metagame.envs.traffic.network import (
    SCENARIOS,
    Network,
    compile_network,
    from_sumo,
    grid,
    highway,
    intersection,
    roundabout,
)
from metagame.envs.traffic.observe import ACTION_NAMES

__all__ = [
    "ACTION_NAMES",
    "SCENARIOS",
    "Network",
    "TrafficEnv",
    "compile_network",
    "from_sumo",
    "grid",
    "highway",
    "intersection",
    "roundabout",
]
