"""Evolutionary solution concepts: replicator dynamics (plain and projected) and alpha-rank.

**Replicator dynamics** (Taylor & Jonker 1978, "Evolutionary stable strategies and game
dynamics") move each population's mixture x_k along ``dx_k(a)/dt = x_k(a) (v_k(a) - x_k . v_k)``
where v_k(a) is the payoff of pure strategy a against the other populations' mixtures. A single
population plays a symmetric game A against itself (v = A x). We integrate with forward Euler
steps of size ``dt``; after every step each mixture is projected (Euclidean projection, Wang &
Carreira-Perpinan 2013) onto the simplex whose entries are at least ``gamma``. With
``gamma = 0`` this only absorbs rounding; with ``gamma > 0`` it is the **projected replicator
dynamics** (PRD) meta-solver of PSRO (Lanctot et al. 2017, "A Unified Game-Theoretic Approach to
Multiagent Reinforcement Learning"), whose answer is the time average of the trajectory
(:func:`projected_replicator_dynamics` has OpenSpiel's defaults). The two-population loop (which
also runs a single population, as the symmetric pair (A, A^T) started at (x0, x0)) is a Numba
kernel of matrix-vector products; N >= 3 populations run a second kernel that walks the pure
profiles; the N-population NumPy loop beside them (tensor contractions) is their reference.

**Alpha-rank** (Omidshafiei et al. 2019, "alpha-Rank: Multi-Agent Evaluation by Evolution")
ranks pure profiles by the stationary distribution of a Markov chain over monomorphic
populations: from profile s, one population k adopts a mutant strategy r with probability eta
times the Moran-process fixation probability

    rho = 1 / sum_{l=0}^{m-1} exp(-alpha sum_{p=1}^{l} (f_r(p) - f_s(m - p)))

for population size m and selection intensity alpha (eta = 1 / sum_k (S_k - 1)). In a single
population f are the population-wide fitnesses of r and s with p mutants, or with
``local_selection`` (OpenSpiel's default) just A[r, s] and A[s, r]; across populations f is the
population's payoff at the two profiles. ``alpha = inf`` is the infinite-alpha model with a
small ``inf_alpha_eps`` keeping the chain irreducible. Fixation probabilities are computed in
log space; the stationary distribution solves the sparse balance equations pi (C - I) = 0,
anchored at the profile hardest to leave, with a sparse LU factorisation (SuperLU): the chain
has P * sum_k (S_k - 1) transitions over P profiles, so no dense P x P matrix or
eigendecomposition is formed. The anchored system is an M-matrix, which keeps the tiny masses
of nearly reducible chains (large alpha) to relative accuracy. Beyond a few thousand profiles
the LU's fill-in dominates and Arnoldi iteration (ARPACK, products with C^T only) takes over,
unless the chain is nearly reducible, where Arnoldi cannot be trusted. Profiles are numbered
row-major (the last population's strategy varies fastest), as in OpenSpiel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import njit
from scipy.sparse.csgraph import connected_components
from scipy.special import logsumexp

from metagame._arrays import as_array, as_strategy
from metagame.solvers.normal_form import (
    as_payoff_tensor,
    as_profile,
    deviation_values,
    profile_gains,
)

_TIE = 1e-14  # payoff differences below this are neutral (OpenSpiel's threshold)
DIRECT_PROFILES = 2000  # "auto" solves chains up to this size by sparse LU (fill-in beyond)
NEARLY_ABSENT = 1e-8  # rates below this fraction of the largest make a chain nearly reducible


# ---------------------------------------------------------------------------- payoff input


def _populations(payoffs: Any) -> tuple[np.ndarray, bool]:
    """(payoff tensor, single population?). A square matrix A (or [A]) is one population
    playing the symmetric game (A, A^T); anything else is an N-population payoff tensor."""
    if isinstance(payoffs, list | tuple) and len(payoffs) == 1:
        payoffs = payoffs[0]
    if not isinstance(payoffs, list | tuple) and np.ndim(payoffs) == 2:
        A = as_array(payoffs, "payoffs", ndim=2)
        if A.shape[0] != A.shape[1]:
            raise ValueError(
                f"a single-population payoffs matrix must be square, got shape {A.shape}; "
                f"pass (A, B) for two populations"
            )
        return np.stack([A, A.T]), True
    return as_payoff_tensor(payoffs), False


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# ------------------------------------------------------------------------ replicator dynamics


@dataclass(frozen=True)
class ReplicatorResult:
    """Last iterate and trajectory average (one mixture per population) with their NashConv.

    For a single population the NashConv is that of the symmetric game (A, A^T) at (x, x),
    i.e. twice the gain ``max(A x) - x . A x`` of the best mutant.
    """

    strategies: tuple[np.ndarray, ...]
    average: tuple[np.ndarray, ...]
    nash_conv: float
    average_nash_conv: float
    steps: int


def replicator_dynamics(
    payoffs: Any,
    x0: Any = None,
    *,
    steps: int = 10_000,
    dt: float = 0.01,
    gamma: float = 0.0,
) -> ReplicatorResult:
    """Integrate (projected) replicator dynamics for ``steps`` Euler steps of size ``dt``.

    ``payoffs`` is a square matrix A (one population playing itself), or a two-or-more
    population game as an (N, S_1, ..., S_N) tensor or list of N arrays (``(A, B)``).
    ``x0`` is the initial mixture (a list of mixtures for several populations), uniform by
    default. ``gamma`` is the smallest probability each strategy keeps (PRD when > 0).
    """
    tensor, single = _populations(payoffs)
    shape = tensor.shape[1:]
    steps = _check_positive_int(steps, "steps", minimum=0)
    if not (isinstance(dt, int | float) and np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    if not (isinstance(gamma, int | float) and 0 <= gamma and gamma * max(shape) <= 1):
        raise ValueError(
            f"gamma must lie in [0, 1/{max(shape)}] (at most 1 / number of strategies), "
            f"got {gamma!r}"
        )
    if x0 is None:
        profile = [np.full(k, 1.0 / k) for k in shape]
    elif single:
        profile = [as_strategy(x0, shape[0], "x0")] * 2
    else:
        profile = as_profile(x0, shape, "x0")
    profile = [project_simplex(s, float(gamma)) for s in profile]
    if len(shape) == 2:
        x, y, xbar, ybar = replicator_two_population(
            tensor[0], np.ascontiguousarray(tensor[1].T), profile[0], profile[1],
            steps, float(dt), float(gamma),
        )  # fmt: skip
        last, average = [x, y], [xbar, ybar]
    else:
        sizes = np.array(shape, dtype=np.int64)
        flat = replicator_n_population(
            tensor.reshape(len(shape), -1), sizes, np.concatenate(profile),
            steps, float(dt), float(gamma),
        )  # fmt: skip
        ends = np.cumsum(sizes)[:-1]
        last, average = (np.split(z, ends) for z in flat)
    keep = 1 if single else len(shape)
    return ReplicatorResult(
        tuple(last[:keep]),
        tuple(average[:keep]),
        float(profile_gains(tensor, last).sum()),
        float(profile_gains(tensor, average).sum()),
        steps,
    )


def projected_replicator_dynamics(
    payoffs: Any,
    x0: Any = None,
    *,
    steps: int = 100_000,
    dt: float = 1e-3,
    gamma: float = 1e-6,
) -> ReplicatorResult:
    """PRD with OpenSpiel's PSRO defaults; as a meta-solver use the result's ``average``."""
    return replicator_dynamics(payoffs, x0, steps=steps, dt=dt, gamma=gamma)


@njit(cache=True)
def project_simplex(v, gamma):
    """Euclidean projection of v onto {x : x >= gamma, sum x = 1} (needs len(v) * gamma <= 1)."""
    k = v.size
    w = v - gamma
    total = 1.0 - k * gamma
    u = np.sort(w)[::-1]
    csum = 0.0
    theta = u[0] - total  # the largest entry always stays in the support (also when total == 0)
    for j in range(k):
        csum += u[j]
        t = (csum - total) / (j + 1)
        if u[j] - t > 0:
            theta = t
    return np.maximum(w - theta, 0.0) + gamma


@njit(cache=True)
def replicator_two_population(A, BT, x, y, steps, dt, gamma):
    """Euler-integrated projected replicator dynamics of the bimatrix game (A, B), BT = B^T.

    Returns the last iterates and the averages of the steps + 1 iterates (initial included).
    """
    xbar = x.copy()
    ybar = y.copy()
    for _ in range(steps):
        fx = A @ y
        fy = BT @ x
        x_next = project_simplex(x + dt * x * (fx - x @ fx), gamma)
        y = project_simplex(y + dt * y * (fy - y @ fy), gamma)
        x = x_next
        xbar += x
        ybar += y
    return x, y, xbar / (steps + 1), ybar / (steps + 1)


@njit(cache=True)
def replicator_n_population(payoffs, sizes, z, steps, dt, gamma):
    """:func:`replicator_two_population` for N populations, over flat arrays: ``payoffs`` is the
    (N, P) payoff tensor with its P pure profiles in row-major order, ``z`` the N mixtures laid
    end to end (population k's ``sizes[k]`` entries after those of populations 0..k-1).

    Each step gives every pure strategy a of population k its payoff against the others'
    mixtures, v_k(a) = sum over profiles p with p_k = a of payoffs[k, p] prod_{j != k}
    z_j(p_j), in one pass over the profiles. Returns the last iterate and the average of the
    steps + 1 iterates (initial included), in ``z``'s layout.
    """
    n = sizes.size
    offsets = np.zeros(n, np.int64)
    strides = np.ones(n, np.int64)
    for k in range(1, n):
        offsets[k] = offsets[k - 1] + sizes[k - 1]
        strides[n - 1 - k] = strides[n - k] * sizes[n - k]
    z = z.copy()
    zbar = z.copy()
    v = np.empty_like(z)
    chosen = np.empty(n, np.int64)
    for _ in range(steps):
        v[:] = 0.0
        for p in range(payoffs.shape[1]):
            for k in range(n):
                chosen[k] = offsets[k] + (p // strides[k]) % sizes[k]
            for k in range(n):
                weight = payoffs[k, p]
                for j in range(n):
                    if j != k:
                        weight *= z[chosen[j]]
                v[chosen[k]] += weight
        z_next = np.empty_like(z)
        for k in range(n):
            lo, hi = offsets[k], offsets[k] + sizes[k]
            x, f = z[lo:hi], v[lo:hi]
            z_next[lo:hi] = project_simplex(x + dt * x * (f - x @ f), gamma)
        z = z_next
        zbar += z
    return z, zbar / (steps + 1)


def replicator_reference(tensor, profile, steps, dt, gamma):
    """NumPy N-population version of :func:`replicator_two_population` (same update)."""
    total = [s.copy() for s in profile]
    for _ in range(steps):
        values = deviation_values(tensor, profile)
        profile = [
            project_simplex(s + dt * s * (v - s @ v), gamma) for s, v in zip(profile, values)
        ]
        for acc, s in zip(total, profile):
            acc += s
    return profile, [acc / (steps + 1) for acc in total]


# ------------------------------------------------------------------------------- alpha-rank


@dataclass(frozen=True)
class AlphaRankResult:
    """Stationary distribution ``pi`` over pure profiles (row-major ids), each population's
    marginal, profiles by decreasing mass, and the certificate ``residual = |pi C - pi|_1``."""

    pi: np.ndarray
    marginals: tuple[np.ndarray, ...]
    ranking: np.ndarray
    residual: float
    shape: tuple[int, ...]


def alpharank(
    payoffs: Any,
    alpha: float = 100.0,
    population_size: int = 50,
    *,
    local_selection: bool = True,
    inf_alpha_eps: float = 0.01,
    method: Literal["auto", "direct", "arnoldi"] = "auto",
) -> AlphaRankResult:
    """Alpha-rank of a single-population (square matrix A, or [A]) or multi-population game
    ((N, S_1, ..., S_N) tensor or list of N arrays). Defaults follow OpenSpiel's
    ``alpharank.compute``; ``alpha=float('inf')`` is the infinite-alpha model. ``method``
    chooses the stationary solve: ``"direct"`` sparse LU (accurate on nearly reducible chains,
    but its fill-in grows fast with the number of profiles), ``"arnoldi"`` ARPACK iteration
    (refused on nearly reducible chains), ``"auto"`` direct up to 2000 profiles and on nearly
    reducible chains of any size, Arnoldi otherwise."""
    tensor, single = _populations(payoffs)
    if not (isinstance(alpha, int | float) and alpha > 0 and not np.isnan(alpha)):
        raise ValueError(f"alpha must be a positive number (or inf), got {alpha!r}")
    m = _check_positive_int(population_size, "population_size", minimum=2)
    if not (isinstance(inf_alpha_eps, int | float) and 0 < inf_alpha_eps < 0.5):
        raise ValueError(f"inf_alpha_eps must lie in (0, 1/2), got {inf_alpha_eps!r}")
    shape = tensor.shape[1:2] if single else tensor.shape[1:]
    if method not in ("auto", "direct", "arnoldi"):
        raise ValueError(f"method must be 'auto', 'direct' or 'arnoldi', got {method!r}")
    generator = _generator(tensor, single, float(alpha), m, local_selection, inf_alpha_eps)
    pi = _stationary(generator, method)
    grid = pi.reshape(shape)
    marginals = tuple(
        grid.sum(axis=tuple(j for j in range(len(shape)) if j != k)) for k in range(len(shape))
    )
    residual = float(np.abs(generator.T @ pi).sum())
    return AlphaRankResult(pi, marginals, np.argsort(-pi, kind="stable"), residual, shape)


def _generator(tensor, single, alpha, m, local_selection, eps) -> sp.csr_matrix:
    """Q = C - I for the row-stochastic Markov chain C over profiles. Its diagonal is minus the
    sum of the exit probabilities, not (1 - sum) - 1, so tiny exit rates survive rounding."""
    if single:  # one line of n strategies; the "payoff" of moving s -> r is A[r, s] - A[s, r]
        A = tensor[0]
        n = A.shape[0]
        ids = np.arange(n)[None, :]
        diff = (A.T - A)[None]  # diff[0, s, r] = A[r, s] - A[s, r]
        if local_selection or np.isinf(alpha):
            log_rho = _log_fixation(diff, alpha, m, eps)
        else:  # population-wide fitness with p mutants r among m - p residents s, p = 1..m-1
            p = np.arange(1, m)
            f_r = ((p - 1) * np.diag(A)[None, :, None] + (m - p) * A.T[:, :, None]) / (m - 1)
            f_s = ((m - p - 1) * np.diag(A)[:, None, None] + p * A[:, :, None]) / (m - 1)
            log_rho = _log_fixation_moran(f_r - f_s, alpha)[None]
        lines = [(ids, log_rho)]
        eta = 1.0 / max(n - 1, 1)
        size = n
    else:  # one line per population k and per choice of the other populations' strategies
        shape = tensor.shape[1:]
        size = int(np.prod(shape))
        grid = np.arange(size).reshape(shape)
        lines = []
        for k, s_k in enumerate(shape):
            ids = np.moveaxis(grid, k, -1).reshape(-1, s_k)
            f = np.moveaxis(tensor[k], k, -1).reshape(-1, s_k)
            diff = f[:, None, :] - f[:, :, None]  # diff[line, s, r] = f(r) - f(s)
            lines.append((ids, _log_fixation(diff, alpha, m, eps)))
        eta = 1.0 / max(sum(s - 1 for s in shape), 1)
    rows, cols, probs = [], [], []
    for ids, log_rho in lines:
        k = ids.shape[1]
        off = ~np.eye(k, dtype=bool)
        rows.append(np.broadcast_to(ids[:, :, None], log_rho.shape)[:, off].ravel())
        cols.append(np.broadcast_to(ids[:, None, :], log_rho.shape)[:, off].ravel())
        probs.append(eta * np.exp(log_rho[:, off]).ravel())
    rows, cols, probs = (np.concatenate(v) for v in (rows, cols, probs))
    leave = -np.bincount(rows, weights=probs, minlength=size)
    everything = np.arange(size)
    return sp.csr_matrix(
        (np.concatenate([probs, leave]), (np.concatenate([rows, everything]),
                                         np.concatenate([cols, everything]))),
        shape=(size, size),
    )  # fmt: skip


def _log_fixation(diff, alpha, m, eps):
    """log fixation probability when the fitness advantage ``diff`` of the mutant is constant:
    rho = (1 - e^-u) / (1 - e^-mu), u = alpha * diff (1/m when neutral). With alpha = inf,
    the infinite-alpha model's 1 - eps / eps / 1/2 (eta is applied by the caller)."""
    if np.isinf(alpha):
        return np.log(np.where(np.abs(diff) < _TIE, 0.5, np.where(diff > 0, 1 - eps, eps)))
    u = alpha * diff
    a = np.abs(u)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_rho = np.minimum(u, 0.0) * (m - 1) + np.log(-np.expm1(-a)) - np.log(-np.expm1(-m * a))
    return np.where(np.abs(diff) < _TIE, -np.log(m), log_rho)


def _log_fixation_moran(advantage, alpha):
    """log rho = -log sum_{l=0}^{m-1} exp(-alpha sum_{p<=l} advantage[..., p-1]) (Moran process)."""
    exponents = np.cumsum(-alpha * advantage, axis=-1)
    exponents = np.concatenate([np.zeros(advantage.shape[:-1] + (1,)), exponents], axis=-1)
    return -logsumexp(exponents, axis=-1)


def _stationary(generator: sp.csr_matrix, method: str) -> np.ndarray:
    """pi with pi Q = 0, sum pi = 1.

    ``"direct"`` anchors pi at the profile ``k`` of the closed class that is hardest to leave
    (pi_k = 1) and solves the other balance equations by sparse LU. Their matrix is a
    nonsingular M-matrix whose diagonal is the exact sum of its column's exit rates, which keeps
    the tiny masses of nearly reducible chains: against 400-digit arithmetic, 1e-15 relative
    error on a two-population game whose classes exchange mass at rates near 1e-177, where
    Arnoldi's answer was off by 0.44 and an LU with one equation replaced by sum pi = 1
    failed. A pivot that underflows to 0 is reported. ``"arnoldi"`` (ARPACK, products with Q^T
    only) is fast on large chains but cannot separate eigenvalues that close to 0, so it is
    refused on a nearly reducible chain; ``"auto"`` picks it only for large chains that are
    not.
    """
    size = generator.shape[0]
    if size == 1:
        return np.ones(1)
    closed = _closed_classes(generator, 0.0)
    if len(closed) > 1:
        raise ValueError(
            "alpha-rank's Markov chain is numerically reducible: fixation probabilities "
            "underflow to 0 at this alpha, leaving several closed classes of profiles; lower "
            "alpha or use alpha=float('inf')"
        )
    if method == "auto" and size <= DIRECT_PROFILES:
        method = "direct"
    if method != "direct" and len(_closed_classes(generator, NEARLY_ABSENT)) > 1:
        if method == "arnoldi":
            raise ValueError(
                "alpha-rank's Markov chain is nearly reducible at this alpha (some classes of "
                "profiles are left at rates below 1e-8 of the largest), which Arnoldi iteration "
                "cannot resolve; use method='direct'"
            )
        method = "direct"  # auto on a large but nearly reducible chain
    elif method == "auto":
        method = "arnoldi"
    if len(closed[0]) == 1:  # one absorbing profile: every other profile is transient
        pi = np.zeros(size)
        pi[closed[0]] = 1.0
    elif method == "direct":
        pi = _anchored_solve(generator, closed[0])
    else:
        try:
            _, vectors = spla.eigs(
                generator.T.tocsr(), k=1, which="LR", v0=np.full(size, 1.0 / size), tol=1e-14,
                maxiter=1000,
            )  # fmt: skip
            pi = vectors[:, 0].real / vectors[:, 0].real.sum()
        except spla.ArpackNoConvergence:
            pi = np.full(size, np.nan)
    if not np.isfinite(pi).all() or pi.min() < -1e-8:
        remedy = (
            "lower alpha or use alpha=float('inf')" if method == "direct" else "use method='direct'"
        )
        raise ValueError(
            f"alpha-rank's stationary solve ({method}) failed at this alpha (rates near the "
            f"underflow limit); {remedy}"
        )
    pi = np.clip(pi, 0.0, None)
    return pi / pi.sum()


def _anchored_solve(generator: sp.csr_matrix, closed: np.ndarray) -> np.ndarray:
    """Solves sum_i pi_i Q[i, j] = 0 for j != k with pi_k = 1, k the profile of the closed
    class ``closed`` with the smallest exit rate (every profile reaches it, so the system is
    nonsingular), and normalizes."""
    k = int(closed[np.argmin(-generator.diagonal()[closed])])
    rest = np.flatnonzero(np.arange(generator.shape[0]) != k)
    balance = generator.T.tocsr()
    rhs = -balance[rest, k].toarray().ravel()
    pi = np.empty(generator.shape[0])
    pi[k] = 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        try:
            pi[rest] = spla.splu(balance[rest][:, rest].tocsc()).solve(rhs)
        except RuntimeError:  # a pivot underflowed to exactly 0
            return np.full_like(pi, np.nan)
        return pi / pi.sum()


def _closed_classes(generator: sp.csr_matrix, threshold: float) -> list[np.ndarray]:
    """The closed communicating classes (profile ids) of the chain once rates ``<= threshold``
    x the largest are dropped; the stationary distribution is unique iff there is one at
    threshold 0 (rates that underflow to exactly 0 can leave several)."""
    rates = generator - sp.diags(generator.diagonal())
    rates.data[rates.data <= threshold * rates.data.max(initial=0.0)] = 0.0
    rates.eliminate_zeros()
    count, labels = connected_components(rates, directed=True, connection="strong")
    src, dst = rates.nonzero()
    has_exit = np.zeros(count, dtype=bool)
    has_exit[labels[src][labels[src] != labels[dst]]] = True
    return [np.flatnonzero(labels == c) for c in np.flatnonzero(~has_exit)]
