"""Correlated and coarse correlated equilibria of N-player normal-form games, by linear program.

A correlated equilibrium (Aumann 1974, "Subjectivity and correlation in randomized strategies")
is a distribution p over pure profiles such that no player, told its recommended action a,
gains by playing a' instead:

    for every player i and actions a != a':
        sum_{a_-i} p(a, a_-i) [u_i(a', a_-i) - u_i(a, a_-i)] <= 0.

A coarse correlated equilibrium (Moulin & Vial 1978, "Strategically zero-sum games") only asks
that no player gains by committing to a fixed action a' before seeing its recommendation:

    for every player i and action a':  sum_a p(a) [u_i(a', a_-i) - u_i(a)] <= 0.

Both sets are polytopes; we pick a point with scipy's HiGHS LP solver, maximising the players'
total expected payoff (``"welfare"``), the smallest player's expected payoff
(``"egalitarian"``), or any feasible point (``"none"``). The certificate is the largest
incentive-constraint violation, recomputed from the returned distribution (not taken from the
LP solver), so it is >= 0 and about the solver's feasibility tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from metagame.solvers.normal_form import as_payoff_tensor

Objective = Literal["welfare", "egalitarian", "none"]


@dataclass(frozen=True)
class CorrelatedEquilibrium:
    """A joint distribution over pure profiles (shape (A_1, ..., A_N)) and its certificate."""

    distribution: np.ndarray
    values: np.ndarray  # (N,) expected payoff of each player under ``distribution``
    max_violation: float  # largest incentive-constraint gain, max(0, .)
    coarse: bool
    objective: str

    @property
    def welfare(self) -> float:
        return float(self.values.sum())

    def marginals(self) -> list[np.ndarray]:
        """Each player's marginal distribution over its own actions."""
        p = self.distribution
        return [p.sum(axis=tuple(j for j in range(p.ndim) if j != i)) for i in range(p.ndim)]


def correlated_equilibrium(
    payoffs: Any, coarse: bool = False, objective: Objective = "welfare"
) -> CorrelatedEquilibrium:
    """A (coarse) correlated equilibrium of the game ``payoffs`` chosen by ``objective``.

    ``payoffs`` is an (N, A_1, ..., A_N) tensor or a list of N per-player arrays (``(A, B)``
    for a bimatrix game).
    """
    tensor = as_payoff_tensor(payoffs)
    if objective not in ("welfare", "egalitarian", "none"):
        raise ValueError(f"objective must be 'welfare', 'egalitarian' or 'none', got {objective!r}")
    gains = incentive_matrix(tensor, coarse)
    n_players, size = tensor.shape[0], gains.shape[1]
    utilities = tensor.reshape(n_players, size)
    if objective == "egalitarian":  # variables (p, t): maximise t <= every player's value
        c = np.zeros(size + 1)
        c[-1] = -1.0
        a_ub = sp.vstack(
            [
                sp.hstack([gains, sp.csr_matrix((gains.shape[0], 1))]),
                sp.csr_matrix(np.hstack([-utilities, np.ones((n_players, 1))])),
            ]
        )
        b_ub = np.zeros(a_ub.shape[0])
        a_eq = np.append(np.ones(size), 0.0)[None]
        bounds = [(0, None)] * size + [(None, None)]
    else:
        c = -utilities.sum(axis=0) if objective == "welfare" else np.zeros(size)
        a_ub, b_ub, a_eq, bounds = gains, np.zeros(gains.shape[0]), np.ones((1, size)), (0, None)
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if res.status != 0:  # the polytope always contains every Nash equilibrium, so never empty
        raise RuntimeError(f"HiGHS failed on the correlated-equilibrium LP: {res.message}")
    p = np.clip(res.x[:size], 0.0, None)
    p /= p.sum()
    violation = max(float((gains @ p).max(initial=0.0)), 0.0)
    return CorrelatedEquilibrium(
        p.reshape(tensor.shape[1:]), utilities @ p, violation, bool(coarse), objective
    )


def incentive_matrix(tensor: np.ndarray, coarse: bool) -> sp.csr_matrix:
    """Rows: one incentive constraint ``row @ p <= 0`` per (player, a, a') (per (player, a')
    when ``coarse``); columns: pure profiles in row-major order."""
    shape = tensor.shape[1:]
    profile_ids = np.arange(int(np.prod(shape))).reshape(shape)
    blocks = []
    for i, k in enumerate(shape):
        u = np.moveaxis(tensor[i], i, 0).reshape(k, -1)  # u[a, rest]
        ids = np.moveaxis(profile_ids, i, 0).reshape(k, -1)  # profile id of (a, rest)
        gain = u[None, :, :] - u[:, None, :]  # gain[a, a', rest] = u(a', rest) - u(a, rest)
        if coarse:  # row a': sum over every recommendation a
            rows = np.broadcast_to(np.arange(k)[None, :, None], gain.shape)
            cols = np.broadcast_to(ids[:, None, :], gain.shape)
            blocks.append(
                sp.csr_matrix(
                    (gain.ravel(), (rows.ravel(), cols.ravel())), shape=(k, profile_ids.size)
                )
            )
        else:  # row (a, a') with a != a': only profiles recommending a
            off = ~np.eye(k, dtype=bool)
            rows = np.cumsum(off.ravel()).reshape(k, k) - 1
            data = gain[off]
            cols = np.broadcast_to(ids[:, None, :], gain.shape)[off]
            rows = np.broadcast_to(rows[:, :, None], gain.shape)[off]
            blocks.append(
                sp.csr_matrix(
                    (data.ravel(), (rows.ravel(), cols.ravel())),
                    shape=(k * (k - 1), profile_ids.size),
                )
            )
    return sp.vstack(blocks, format="csr")
