"""Equilibrium computation: certified answers from Numba kernels with NumPy references.

Every solver returns strategies together with a certificate (duality gap, NashConv or
exploitability) recomputed from the strategies, independently of the method.

- ``solve_zero_sum``, ``solve_zero_sum_batch``, ``Equilibrium``: two-player zero-sum games;
- ``minimax_winner``, ``minimax_winner_from_counts``, ``preference_exploitability``: von Neumann
  winners of preference matrices and their certificate;
- ``solve_regularized``: the KL-regularized zero-sum game of Nash-MD, Nash-MP and INPO;
- ``solve_bimatrix``, ``correlated_equilibrium``: general-sum normal-form games;
- ``replicator_dynamics``, ``projected_replicator_dynamics``, ``alpharank``: evolutionary
  dynamics;
- ``nash_conv``, ``exploitability``: certificates for N-player normal-form games;
- ``solve_markov_game``, ``markov_exploitability``, ``solve_general_sum_markov``,
  ``markov_nash_conv``, ``solve_extensive``: sequential games;
- ``set_num_threads``: threads of the parallel kernels.
"""

from __future__ import annotations

from metagame._compile_notice import announce_compilation
from metagame._lazy import lazy_exports
from metagame.solvers._linalg import set_num_threads
from metagame.solvers.zero_sum import Equilibrium, solve_zero_sum, solve_zero_sum_batch

_EXPORTS = {
    "minimax_winner": "metagame.solvers.preference",
    "minimax_winner_from_counts": "metagame.solvers.preference",
    "preference_exploitability": "metagame.solvers.preference",
    "solve_regularized": "metagame.solvers.regularized",
    "solve_bimatrix": "metagame.solvers.bimatrix",
    "correlated_equilibrium": "metagame.solvers.correlated",
    "alpharank": "metagame.solvers.evolutionary",
    "replicator_dynamics": "metagame.solvers.evolutionary",
    "projected_replicator_dynamics": "metagame.solvers.evolutionary",
    "nash_conv": "metagame.solvers.normal_form",
    "exploitability": "metagame.solvers.normal_form",
    "solve_markov_game": "metagame.solvers.markov",
    "markov_exploitability": "metagame.solvers.markov",
    "markov_nash_conv": "metagame.solvers.markov",
    "solve_general_sum_markov": "metagame.solvers.markov",
    "solve_extensive": "metagame.solvers.extensive",
}

__all__ = [
    "Equilibrium",
    "set_num_threads",
    "solve_zero_sum",
    "solve_zero_sum_batch",
    *_EXPORTS,
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
announce_compilation()  # the solvers' kernels compile on first use: say so when it is slow
