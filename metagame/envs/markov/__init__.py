"""Markov games: matrix games, Littman's soccer, pursuit-evasion on graphs, and any game given
as arrays, all PettingZoo Parallel envs sharing one tabular base (``base.MarkovGameEnv``) that
exports ``tabular()`` arrays for ``metagame.solvers.markov`` and registers them with OpenSpiel
(``metagame.envs.markov.spiel``).

The names below are imported on first use (PEP 562), so that ``import metagame.envs``, which
registers the OpenSpiel games through ``spiel``, loads neither SciPy nor networkx.
"""

from metagame._lazy import lazy_exports

_EXPORTS = {
    "CATALOG": ".matrix",
    "MarkovGameEnv": ".base",
    "MatrixGameEnv": ".matrix",
    "PursuitEvasionEnv": ".pursuit",
    "SoccerEnv": ".soccer",
    "Tabular": ".base",
    "TabularMarkovGame": ".tabular",
    "matrix_game": ".matrix",
    "random_game": ".tabular",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
