"""metagame: multi-agent games, learners, equilibrium solvers and a self-play league.

Subpackages (dependencies flow downward only):

- ``metagame.envs``: every environment, PettingZoo API outward (``make``, ``registry``).
- ``metagame.solvers``: equilibrium computation (Numba kernels with NumPy references).
- ``metagame.agents``: everything that acts (RLlib configs, planners, tabular learners).
- ``metagame.league``: the self-play league and its ``league`` CLI.
- ``metagame.viz``: the pygame viewer, replays playback and plots.
"""

__version__ = "0.1.0"
