"""Markov games: matrix games, Littman's soccer, pursuit-evasion on graphs, and any game given
as arrays, all PettingZoo Parallel envs sharing one tabular base (``base.MarkovGameEnv``) that
exports ``tabular()`` arrays for ``metagame.solvers.markov`` and registers them with OpenSpiel
(``metagame.envs.markov.spiel``)."""

from metagame.envs.markov.base import MarkovGameEnv, Tabular
from metagame.envs.markov.matrix import CATALOG, MatrixGameEnv, matrix_game
from metagame.envs.markov.pursuit import PursuitEvasionEnv
from metagame.envs.markov.soccer import SoccerEnv
from metagame.envs.markov.tabular import TabularMarkovGame, random_game

__all__ = [
    "CATALOG",
    "MarkovGameEnv",
    "MatrixGameEnv",
    "PursuitEvasionEnv",
    "SoccerEnv",
    "Tabular",
    "TabularMarkovGame",
    "matrix_game",
    "random_game",
]
