"""Exact solution of discounted two-player zero-sum Markov games, and its certificate.

A game is given by player 1's (the maximizer's) rewards ``R[s, a, b]`` and transitions
``T[s, a, b, s']`` (dense, or sparse with shape ``(S * A * B, S)``). Its value is the unique fixed
point of Shapley's (1953) operator

    (L V)(s) = val[ R(s) + gamma * sum_s' T(s, ., ., s') V(s') ],

``val`` being the value of the stage matrix game. Three methods:

- ``"value_iteration"``: Shapley's iteration ``V <- L V``; every sweep solves all stage games in
  one batched call of the Numba simplex (``solve_zero_sum_batch``), warm-started from the
  previous sweep's supports;
- ``"hoffman_karp"``: policy iteration (Hoffman & Karp 1966): fix the minimizer's stage
  strategies at ``V`` and set ``V`` to the value of the maximizer's best-response MDP; monotone
  and convergent;
- ``"pollatschek_avi_itzhak"``: Newton's method on ``V - L V`` (Pollatschek & Avi-Itzhak 1969):
  set ``V`` to the value of the stage-equilibrium policy pair; very fast where it converges
  (not always, Van der Wal 1978), so a step that fails to reduce the residual is replaced by a
  Shapley step.

The answer carries a certificate computed independently of the method: the residual
``||L V - V||_inf`` and, from the two best-response MDPs (solved exactly by Howard's policy
iteration), the values ``lower(s) <= V*(s) <= upper(s)`` the two stationary policies guarantee;
``exploitability = max_s upper(s) - lower(s)`` bounds what either player can gain by deviating.
Absorbing zero-reward states are detected and held at value 0; ``gamma = 1`` is accepted for
games whose other states form no cycle (finite-horizon games such as repeated matrix games).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

from metagame._arrays import as_array, check_tolerance
from metagame.solvers.zero_sum import solve_zero_sum_batch

Method = Literal["value_iteration", "hoffman_karp", "pollatschek_avi_itzhak"]
METHODS = ("value_iteration", "hoffman_karp", "pollatschek_avi_itzhak")
DIRECT_LIMIT = 3000


@dataclass(frozen=True)
class MarkovSolution:
    """Stationary equilibrium of a zero-sum Markov game.

    ``V[s]`` is the value, ``pi_1[s]``/``pi_2[s]`` the players' stage strategies (equilibria of
    the stage games ``Q[s] = R[s] + gamma * T[s] V``), ``residual = ||L V - V||_inf``,
    ``lower``/``upper`` what ``pi_1``/``pi_2`` guarantee against best responses, and
    ``exploitability = max_s (upper - lower)``.
    """

    V: np.ndarray
    pi_1: np.ndarray
    pi_2: np.ndarray
    Q: np.ndarray
    residual: float
    exploitability: float
    lower: np.ndarray
    upper: np.ndarray
    iterations: int
    method: str


class MarkovExploitability(NamedTuple):
    """``lower[s]``: value ``pi_1`` guarantees (player 2 best-responds); ``upper[s]``: value
    ``pi_2`` concedes (player 1 best-responds); ``gap = max_s (upper - lower) >= 0``."""

    gap: float
    lower: np.ndarray
    upper: np.ndarray


class _Game(NamedTuple):
    R: np.ndarray  # (S, A, B)
    T: sp.csr_array  # (S * A * B, S)
    gamma: float
    absorbing: np.ndarray  # (S,) bool, held at value 0


def _check_game(R: Any, T: Any, gamma: float) -> _Game:
    R = as_array(R, "R", ndim=3)
    S, A, B = R.shape
    if sp.issparse(T):
        if T.dtype.kind not in "biuf":
            raise ValueError(f"T must hold real numbers, got dtype {T.dtype}")
        T = sp.csr_array(T, dtype=np.float64)
        if T.shape != (S * A * B, S):
            raise ValueError(f"sparse T must have shape {(S * A * B, S)}, got {T.shape}")
        if not np.isfinite(T.data).all():
            raise ValueError("T contains NaN or inf")
        T.eliminate_zeros()
    else:
        T = as_array(T, "T", ndim=4)
        if T.shape != (S, A, B, S):
            raise ValueError(f"T must have shape {(S, A, B, S)}, got {T.shape}")
        T = sp.csr_array(T.reshape(S * A * B, S))
    if (T.data < 0).any():
        raise ValueError("T has negative entries")
    sums = np.asarray(T.sum(axis=1)).ravel()
    if not np.allclose(sums, 1.0, atol=1e-9):
        s, j = divmod(int(np.argmax(np.abs(sums - 1.0))), A * B)
        raise ValueError(f"T[{s}, {j // B}, {j % B}, :] sums to {sums[s * A * B + j]:.6g}, not 1")
    if not (isinstance(gamma, int | float | np.floating) and 0.0 < gamma <= 1.0):
        raise ValueError(f"gamma must lie in (0, 1], got {gamma!r}")
    self_loop = np.zeros(S * A * B)
    rows = np.repeat(np.arange(S * A * B), np.diff(T.indptr))
    hit = T.indices == rows // (A * B)
    np.add.at(self_loop, rows[hit], T.data[hit])
    absorbing = np.isclose(self_loop.reshape(S, A * B), 1.0).all(1) & (R == 0).all((1, 2))
    if gamma == 1.0:
        live = np.flatnonzero(~absorbing)
        graph = _state_graph(T, S)[live][:, live]
        n, _ = csgraph.connected_components(graph, directed=True, connection="strong")
        if n < live.size or graph.diagonal().any():
            raise ValueError(
                "gamma = 1 needs a game whose non-absorbing states form no cycle "
                "(a finite-horizon game); use gamma < 1"
            )
    return _Game(R, T, float(gamma), absorbing)


def _state_graph(T: sp.csr_array, S: int) -> sp.csr_array:
    """``G[s, s'] > 0`` when some joint action leads from s to s'."""
    rows = np.repeat(np.arange(T.shape[0]) // (T.shape[0] // S), np.diff(T.indptr))
    G = sp.csr_array((np.ones_like(T.data), (rows, T.indices)), shape=(S, S))
    G.sum_duplicates()
    return G


def _q_values(g: _Game, V: np.ndarray) -> np.ndarray:
    """Stage games ``Q[s] = R[s] + gamma * T[s] V``."""
    return g.R + g.gamma * (g.T @ V).reshape(g.R.shape)


def _shapley(g: _Game, V: np.ndarray, warm, tol: float):
    """One application of Shapley's operator: (L V, Q, pi_1, pi_2)."""
    Q = _q_values(g, V)
    rows, cols, values, _ = solve_zero_sum_batch(Q, tol=tol, warm_start=warm)
    values[g.absorbing] = 0.0
    return values, Q, rows, cols


def _mix(
    g: _Game, weights: np.ndarray, rows: np.ndarray, n: int
) -> tuple[np.ndarray, sp.csr_array]:
    """Rewards ``r[i]`` and transitions ``P[i, s']`` averaged over joint actions: row ``rows[j]``
    gets joint action j (of the flat ``S * A * B`` index) with weight ``weights[j]``."""
    W = sp.csr_array((weights, (rows, np.arange(weights.size))), shape=(n, weights.size))
    return W @ g.R.ravel(), sp.csr_array(W @ g.T)


def _reduce(g: _Game, pi: np.ndarray, player: int) -> tuple[np.ndarray, sp.csr_array]:
    """The MDP the other player faces when ``player`` (0 or 1) plays ``pi``: rewards
    ``r[s, k]`` and transitions ``(S * K, S)`` over the responder's actions k."""
    S, A, B = g.R.shape
    s, a, b = np.unravel_index(np.arange(S * A * B), (S, A, B))
    if player == 0:
        r, P = _mix(g, pi[s, a], s * B + b, S * B)
        return r.reshape(S, B), P
    r, P = _mix(g, pi[s, b], s * A + a, S * A)
    return r.reshape(S, A), P


def _evaluate(r: np.ndarray, P: sp.csr_array, gamma: float, absorbing: np.ndarray) -> np.ndarray:
    """Solves ``V = r + gamma P V`` with ``V = 0`` on absorbing states: sparse LU up to
    ``DIRECT_LIMIT`` states, BiCGSTAB (to round-off) beyond, where LU fill-in explodes."""
    live = np.flatnonzero(~absorbing)
    V = np.zeros(r.size)
    M = sp.identity(live.size, format="csr") - gamma * P[live][:, live]
    if live.size <= DIRECT_LIMIT:
        V[live] = spla.spsolve(M.tocsc(), r[live])
        return V
    x, info = spla.bicgstab(M, r[live], rtol=1e-14, atol=0.0, maxiter=10 * live.size)
    if info != 0 or not np.isfinite(x).all():
        raise RuntimeError(f"policy evaluation did not converge (BiCGSTAB info {info})")
    V[live] = x
    return V


def _howard(
    r: np.ndarray, P: sp.csr_array, gamma: float, absorbing: np.ndarray, maximize: bool
) -> np.ndarray:
    """Optimal values of the MDP ``(r[s, k], P[(s, k), s'])`` by Howard's policy iteration."""
    S, K = r.shape
    sign = 1.0 if maximize else -1.0
    policy = np.argmax(sign * r, axis=1)
    for _ in range(10 * S + 100):
        idx = np.arange(S) * K + policy
        V = _evaluate(r[np.arange(S), policy], P[idx], gamma, absorbing)
        Q = sign * (r + gamma * (P @ V).reshape(S, K))
        best = Q.max(1)
        keep = Q[np.arange(S), policy] >= best - 1e-12 * (1.0 + np.abs(best))
        if keep.all():
            return V
        policy = np.where(keep, policy, np.argmax(Q, axis=1))
    raise RuntimeError("Howard's policy iteration did not converge")  # pragma: no cover


def _exploitability(g: _Game, pi_1: np.ndarray, pi_2: np.ndarray) -> MarkovExploitability:
    r2, P2 = _reduce(g, pi_1, 0)
    lower = _howard(r2, P2, g.gamma, g.absorbing, maximize=False)
    r1, P1 = _reduce(g, pi_2, 1)
    upper = _howard(r1, P1, g.gamma, g.absorbing, maximize=True)
    return MarkovExploitability(float(np.max(upper - lower)), lower, upper)


def markov_exploitability(
    R: Any, T: Any, gamma: float, pi_1: Any, pi_2: Any
) -> MarkovExploitability:
    """How much best responses gain against the stationary policies ``pi_1[s, a]`` and
    ``pi_2[s, b]`` in the zero-sum game ``(R, T, gamma)``: each player's best-response MDP is
    solved exactly (Howard's policy iteration with sparse exact evaluation)."""
    g = _check_game(R, T, gamma)
    S, A, B = g.R.shape
    pi_1 = _check_policy(pi_1, (S, A), "pi_1")
    pi_2 = _check_policy(pi_2, (S, B), "pi_2")
    return _exploitability(g, pi_1, pi_2)


def markov_nash_conv(rewards: Any, T: Any, gamma: float, pi_1: Any, pi_2: Any) -> float:
    """NashConv of the stationary policies ``pi_1[s, a]`` and ``pi_2[s, b]`` in the two-player
    general-sum game ``(rewards[i, s, a, b], T, gamma)``: the largest, over states, of the sum of
    what each player gains by best-responding to the other (each best-response MDP solved
    exactly, as in :func:`markov_exploitability`); 0 exactly at a Markov perfect equilibrium."""
    rewards = as_array(rewards, "rewards", ndim=4)
    if rewards.shape[0] != 2:
        raise ValueError(f"rewards must have shape (2, S, A, B), got {rewards.shape}")
    g = _check_game(rewards[0], T, gamma)
    S, A, B = g.R.shape
    policies = (_check_policy(pi_1, (S, A), "pi_1"), _check_policy(pi_2, (S, B), "pi_2"))
    absorbing = g.absorbing & (rewards == 0).all((0, 2, 3))
    return _general_sum_nash_conv(rewards, g, policies, absorbing)


def _check_policy(pi: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    pi = as_array(pi, name, ndim=2)
    if pi.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {pi.shape}")
    if (pi < -1e-9).any() or not np.allclose(pi.sum(1), 1.0, atol=1e-6):
        raise ValueError(f"{name} rows must be probability vectors")
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum(1, keepdims=True)


def solve_markov_game(
    R: Any,
    T: Any,
    gamma: float,
    tol: float = 1e-8,
    method: Method = "value_iteration",
    max_iter: int = 100_000,
) -> MarkovSolution:
    """Value and stationary equilibrium of the zero-sum Markov game ``(R, T, gamma)``.

    Iterates until ``||L V - V||_inf < tol`` (see the module docstring for the methods) and
    returns ``V`` with the stage-equilibrium policies at ``V`` and the best-response
    certificate. Raises ``ValueError`` for malformed input and ``RuntimeError`` when
    ``max_iter`` sweeps do not reach ``tol``.
    """
    tol = check_tolerance(tol)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    g = _check_game(R, T, gamma)
    stage_tol = min(1e-9, tol / 10)
    V = np.zeros(g.R.shape[0])
    warm = None
    best = np.inf
    for it in range(1, max_iter + 1):
        LV, Q, pi_1, pi_2 = _shapley(g, V, warm, stage_tol)
        residual = float(np.max(np.abs(LV - V)))
        if residual < tol:
            cert = _exploitability(g, pi_1, pi_2)
            return MarkovSolution(
                V, pi_1, pi_2, Q, residual, cert.gap, cert.lower, cert.upper, it, method
            )
        warm = (pi_1, pi_2)
        if method == "value_iteration" or (method == "pollatschek_avi_itzhak" and residual >= best):
            V = LV
        elif method == "hoffman_karp":
            r1, P1 = _reduce(g, pi_2, 1)
            V = _howard(r1, P1, g.gamma, g.absorbing, maximize=True)
        else:
            S = V.size
            weights = (pi_1[:, :, None] * pi_2[:, None, :]).ravel()
            r, P = _mix(g, weights, np.repeat(np.arange(S), weights.size // S), S)
            V = _evaluate(r, P, g.gamma, g.absorbing)
        best = min(best, residual)
    raise RuntimeError(f"no convergence to tol={tol} in {max_iter} iterations")


@dataclass(frozen=True)
class GeneralSumSolution:
    """Result of Nash-Q / CE-Q style value iteration on a general-sum Markov game.

    ``V[i, s]`` are the players' values; with ``method="nash"`` ``policies[i][s]`` are the
    stage-equilibrium strategies and ``nash_conv`` is the largest (over states) sum of the
    players' gains from best-response MDPs against them; with ``method="ce"`` ``joint[s]`` is the
    stage correlated equilibrium over joint actions and ``nash_conv`` is None. ``stage_gap`` is
    the largest stage-game certificate (NashConv or CE violation) at the last sweep; ``residual``
    the last sweep's change in V, and ``converged`` whether it fell below ``tol``.
    """

    V: np.ndarray
    policies: tuple[np.ndarray, ...] | None
    joint: np.ndarray | None
    residual: float
    converged: bool
    stage_gap: float
    nash_conv: float | None
    iterations: int
    method: str


def solve_general_sum_markov(
    rewards: Any,
    T: Any,
    gamma: float,
    method: Literal["nash", "ce"] = "nash",
    tol: float = 1e-8,
    max_iter: int = 1000,
) -> GeneralSumSolution:
    """Value iteration with a stage-game equilibrium in place of the max (Nash-Q, Hu & Wellman
    2003; CE-Q, Greenwald & Hall 2003, utilitarian correlated equilibrium).

    ``rewards[i, s, a_1, ..., a_N]``; ``method="nash"`` (two players) solves each stage game by
    Lemke-Howson (``solve_bimatrix``), ``"ce"`` (any number of players) by the welfare-maximizing
    correlated equilibrium LP (``correlated_equilibrium``). Unlike the zero-sum case the stage
    operator is not a contraction and equilibrium selection can jump, so there is NO convergence
    guarantee: the result says whether the sweeps settled (``converged``) and, for Nash,
    certifies the stationary policies by best-response MDPs (``nash_conv``).
    """
    from metagame.solvers.bimatrix import solve_bimatrix
    from metagame.solvers.correlated import correlated_equilibrium

    tol = check_tolerance(tol)
    if method not in ("nash", "ce"):
        raise ValueError(f"method must be 'nash' or 'ce', got {method!r}")
    rewards = as_array(rewards, "rewards")
    N = rewards.shape[0]
    if rewards.ndim != N + 2:
        raise ValueError(f"rewards must have shape (N, S, A_1, ..., A_N), got {rewards.shape}")
    if method == "nash" and N != 2:
        raise ValueError(f"method='nash' needs two players, got {N}; use method='ce'")
    S, shape = rewards.shape[1], rewards.shape[2:]
    J = int(np.prod(shape))
    flat = rewards.reshape(N, S, J)
    g = _check_game(flat[0].reshape(S, J, 1), _flat_T(T, S, J), gamma)
    absorbing = g.absorbing & (flat == 0).all((0, 2))
    V = np.zeros((N, S))
    policies = joint = None
    it = 0
    while it < max_iter:
        it += 1
        Q = flat + g.gamma * (g.T @ V.T).T.reshape(N, S, J)
        new, gaps = np.zeros_like(V), np.zeros(S)
        stage = []
        for s in range(S):
            q = Q[:, s].reshape(N, *shape)
            if method == "nash":
                eq = solve_bimatrix(q[0], q[1])
                stage.append((eq.row, eq.col))
                new[:, s] = eq.equilibria[0].row_value, eq.equilibria[0].col_value
                gaps[s] = eq.nash_conv
            else:
                ce = correlated_equilibrium(q)
                stage.append(ce.distribution)
                new[:, s] = ce.values
                gaps[s] = ce.max_violation
        new[:, absorbing] = 0.0
        residual = float(np.max(np.abs(new - V)))
        V = new
        if residual < tol:
            break
    if method == "nash":
        policies = (np.array([x for x, _ in stage]), np.array([y for _, y in stage]))
    else:
        joint = np.array(stage)
    nash_conv = (
        None if policies is None else _general_sum_nash_conv(rewards, g, policies, absorbing)
    )
    return GeneralSumSolution(
        V, policies, joint, residual, residual < tol, float(gaps.max()), nash_conv, it, method
    )


def _flat_T(T: Any, S: int, J: int):
    if sp.issparse(T):
        return T
    T = as_array(T, "T")
    if T.size != S * J * S:
        raise ValueError(f"T must have shape (S, A_1, ..., A_N, S) with S={S}, got {T.shape}")
    return T.reshape(S, J, 1, S)


def _general_sum_nash_conv(rewards, g: _Game, policies, absorbing) -> float:
    """max_s sum_i (best-response value - value) of the stationary pair ``policies``."""
    S, A, B = rewards.shape[1:]
    games = [
        _Game(rewards[i], _check_game(rewards[i], g.T, g.gamma).T, g.gamma, absorbing)
        for i in range(2)
    ]
    weights = (policies[0][:, :, None] * policies[1][:, None, :]).ravel()
    rows = np.repeat(np.arange(S), A * B)
    gains = np.zeros(S)
    for i, (game, other) in enumerate(zip(games, (policies[1], policies[0]))):
        r, P = _mix(game, weights, rows, S)
        value = _evaluate(r, P, g.gamma, absorbing)
        r_br, P_br = _reduce(game, other, 1 - i)
        gains += _howard(r_br, P_br, g.gamma, absorbing, maximize=True) - value
    return float(gains.max())
