"""Empirical games of any shape: the meta-game a league plays over its populations.

A match seats one population member per seat; the seats belong to roles (the two seats of a
symmetric game share one role, pursuers and evader are two roles, the seats of 3-player Kuhn
poker are tied into one role). The empirical game is the normal-form game whose pure strategies
are the members: ``payoffs[s][i_1, ..., i_n]`` is seat ``s``'s mean return over the matches in
which seat ``k`` was played by member ``i_k`` of its role, and ``counts`` how many matches that
mean rests on (Wellman 2006, "Methods for empirical game-theoretic analysis"; the PSRO
meta-game of Lanctot et al. 2017). When the seats are tied into one symmetric role, every match
also counts for each permutation of its seats, so the tensor is symmetric and one mixture
answers for all seats.

Meta-solvers turn it into one mixture per role (or a joint distribution over profiles, for
correlated equilibria), each answer certified by its NashConv on the empirical game (for a joint
distribution: its largest incentive-constraint gain):

- ``nash``: two seats, zero-sum: the minimax mixtures (``solve_zero_sum``); two seats,
  general-sum: a Lemke-Howson equilibrium (``solve_bimatrix``); one seat: the best member;
  a symmetric general-sum game or more than two seats has no exact solver here and is refused;
- ``prd``: projected replicator dynamics (Lanctot et al. 2017), any number of seats;
- ``alpharank``: alpha-rank's marginals (Omidshafiei et al. 2019), any number of seats;
- ``ce`` / ``cce``: a welfare-maximising (coarse) correlated equilibrium by LP (joint);
- ``uniform``: every member alike (fictitious play's meta-strategy).

A profile nobody has played yet counts as worth ``fill`` (0: a draw) to every seat.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from metagame.solvers.normal_form import nash_conv

META_SOLVERS = ("nash", "prd", "alpharank", "ce", "cce", "uniform")


@dataclass(frozen=True)
class EmpiricalGame:
    """Mean returns per seat over every profile of members, with the matches behind each."""

    seat_roles: tuple[str, ...]
    members: dict[str, tuple[str, ...]]
    payoffs: np.ndarray  # (seats, *sizes), NaN where a profile was never played
    counts: np.ndarray  # (*sizes)
    symmetric: bool

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.seat_roles))

    def filled(self, fill: float = 0.0) -> np.ndarray:
        """The payoff tensor with unplayed profiles set to ``fill``."""
        return np.where(np.isnan(self.payoffs), fill, self.payoffs)

    def coverage(self) -> float:
        """The fraction of profiles played at least once."""
        return float(np.mean(self.counts > 0))


@dataclass(frozen=True)
class MetaSolution:
    """One mixture per role (``joint`` for correlated equilibria) and the certificate."""

    solver: str
    strategies: dict[str, np.ndarray]
    joint: np.ndarray | None
    nash_conv: float  # of the per-seat profile on the empirical game (CE/CCE: max gain)


def empirical_game(
    matches: Iterable,
    seat_roles: Sequence[str],
    members: Mapping[str, Sequence[str]],
    symmetric: bool = False,
) -> EmpiricalGame:
    """The empirical game of ``matches`` (each with ``players`` and ``returns`` per seat).

    Matches with a player outside its seat's role, or with another number of seats, are left
    out. ``symmetric`` ties the seats: they must share one role.
    """
    seat_roles = tuple(seat_roles)
    members = {r: tuple(m) for r, m in members.items()}
    missing = sorted(set(seat_roles) - set(members))
    if missing:
        raise ValueError(f"no members given for roles {missing}")
    if symmetric and len(set(seat_roles)) != 1:
        raise ValueError(f"symmetric play ties seats of one role, got roles {seat_roles}")
    index = {r: {pid: i for i, pid in enumerate(m)} for r, m in members.items()}
    sizes = tuple(len(members[r]) for r in seat_roles)
    n = len(seat_roles)
    sums, counts = np.zeros((n, *sizes)), np.zeros(sizes, dtype=np.int64)
    orders = list(itertools.permutations(range(n))) if symmetric else [tuple(range(n))]
    for m in matches:
        if len(m.players) != n:
            continue
        try:
            profile = [index[seat_roles[s]][pid] for s, pid in enumerate(m.players)]
        except KeyError:
            continue
        for order in orders:  # seat s of the permuted profile is seat order[s] of the match
            cell = tuple(profile[k] for k in order)
            sums[(slice(None), *cell)] += np.asarray(m.returns, dtype=np.float64)[list(order)]
            counts[cell] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        payoffs = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return EmpiricalGame(seat_roles, members, payoffs, counts, symmetric)


def solve_meta_game(game: EmpiricalGame, solver: str = "nash", fill: float = 0.0) -> MetaSolution:
    """One mixture per role by ``solver`` (see the module docstring), with its NashConv."""
    if solver not in META_SOLVERS:
        raise ValueError(f"meta-solver must be one of {list(META_SOLVERS)}, got {solver!r}")
    tensor = game.filled(fill)
    joint = None
    if solver in ("ce", "cce"):
        from metagame.solvers import correlated_equilibrium

        ce = correlated_equilibrium(tensor, coarse=solver == "cce")
        joint, profile = ce.distribution, ce.marginals()
        certificate = ce.max_violation
    else:
        profile = _SOLVERS[solver](tensor, game.symmetric)
        certificate = float(nash_conv(tensor, profile))
    strategies: dict[str, np.ndarray] = {}
    for role in game.roles:
        seats = [s for s, r in enumerate(game.seat_roles) if r == role]
        strategies[role] = np.mean([profile[s] for s in seats], axis=0)
    return MetaSolution(solver, strategies, joint, certificate)


def _uniform(tensor: np.ndarray, symmetric: bool) -> list[np.ndarray]:
    return [np.full(k, 1.0 / k) for k in tensor.shape[1:]]


def _nash(tensor: np.ndarray, symmetric: bool) -> list[np.ndarray]:
    seats = tensor.shape[0]
    if seats == 1:
        best = np.zeros(tensor.shape[1])
        best[int(np.argmax(tensor[0]))] = 1.0
        return [best]
    if seats != 2:
        raise ValueError(f"no exact Nash solver for {seats} seats: use prd, alpharank, ce or cce")
    A, B = tensor
    if np.allclose(A + B, 0.0, atol=1e-9 * max(1.0, float(np.abs(A).max()))):
        from metagame.solvers import solve_zero_sum

        eq = solve_zero_sum(A, tol=1e-9)
        row, col = np.asarray(eq.row), np.asarray(eq.col)
        return [row, row] if symmetric else [row, col]
    if symmetric:
        raise ValueError(
            "no exact symmetric Nash solver for a general-sum symmetric meta-game: use prd, "
            "alpharank, ce or cce"
        )
    from metagame.solvers import solve_bimatrix

    eq = solve_bimatrix(A, B)
    return [np.asarray(eq.row), np.asarray(eq.col)]


def _prd(tensor: np.ndarray, symmetric: bool) -> list[np.ndarray]:
    """Projected replicator dynamics from the uniform profile; a symmetric game keeps all seats
    alike, so seat 0's mixture is every seat's."""
    from metagame.solvers import projected_replicator_dynamics

    if tensor.shape[0] == 1:
        return _nash(tensor, symmetric)
    result = projected_replicator_dynamics(tensor)
    profile = [np.asarray(s) for s in result.average]
    return [profile[0]] * len(profile) if symmetric else profile


def _alpharank(tensor: np.ndarray, symmetric: bool) -> list[np.ndarray]:
    from metagame.solvers import alpharank

    if tensor.shape[0] == 1:
        return _nash(tensor, symmetric)
    if symmetric and tensor.shape[0] == 2:
        mass = np.asarray(alpharank(tensor[0]).marginals[0])
        return [mass, mass]
    marginals = [np.asarray(m) for m in alpharank(tensor).marginals]
    return [marginals[0]] * len(marginals) if symmetric else marginals


_SOLVERS = {"nash": _nash, "prd": _prd, "alpharank": _alpharank, "uniform": _uniform}


def default_solver(game: EmpiricalGame) -> str:
    """``nash`` where an exact solver serves the game (one seat; two seats, zero-sum or not
    symmetric), else ``prd``."""
    seats = game.payoffs.shape[0]
    if seats == 1:
        return "nash"
    if seats > 2:
        return "prd"
    A, B = game.filled()
    zero_sum = np.allclose(A + B, 0.0, atol=1e-9 * max(1.0, float(np.abs(A).max(initial=0.0))))
    return "nash" if zero_sum or not game.symmetric else "prd"


def member_values(game: EmpiricalGame, solution: MetaSolution, fill: float = 0.0) -> dict:
    """Each member's expected payoff in its population's seats when every other seat plays the
    solution's mixture (Nash averaging's rating, Balduzzi et al. 2018, for n seats): population
    -> array over its members, averaged over the seats the population plays."""
    tensor = game.filled(fill)
    seats = len(game.seat_roles)
    out: dict[str, np.ndarray] = {}
    for role in game.roles:
        values = []
        for s in (k for k, r in enumerate(game.seat_roles) if r == role):
            payoff = tensor[s]
            for other in reversed(range(seats)):  # contract the other seats, last axis first
                if other != s:
                    payoff = np.tensordot(
                        payoff, solution.strategies[game.seat_roles[other]], axes=([other], [0])
                    )
            values.append(payoff)
        out[role] = np.mean(values, axis=0)
    return out
