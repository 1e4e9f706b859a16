"""The KL-regularized zero-sum matrix game, solved by mirror prox to its last iterate.

    max_x min_y  f(x, y) = x^T A y - beta KL(x || mu) + beta KL(y || nu)

is strongly concave-convex; its unique saddle point satisfies ``x = softmax(log mu + A y / beta)``
and ``y = softmax(log nu - A^T x / beta)``. With ``A = P`` a preference matrix and
``mu = nu = pi_ref`` it is the regularized game whose equilibrium Nash-MD and Nash-MP (Munos et
al. 2023, "Nash learning from human feedback") and INPO (Zhang et al. 2024) converge to, so it is
the ground truth the preference learners are tested against.

Method: mirror prox (Nemirovski 2004) with the entropy mirror map and the regularizer handled
in closed form (the "magnetic" step of Sokota et al. 2023), which converges linearly in the
last iterate for small enough steps, here ``eta = 1 / (2 max|A|)`` (Cen, Wei and Chi 2021,
"Fast policy extragradient methods for competitive games with entropy regularization").

Certificate: the regularized duality gap
``max_x' f(x', y) - min_y' f(x, y') = beta [lse(log mu + A y / beta) + KL(y||nu) +
lse(log nu - A^T x / beta) + KL(x||mu)]``, zero exactly at the saddle point, and the fixed-point
residual of the softmax equations (L1 norm).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp, softmax

from metagame._arrays import as_matrix, as_strategy, check_tolerance
from metagame.solvers._linalg import mat_vec, vec_mat

CHECK_EVERY = 8  # iterations between certificate evaluations


@dataclass(frozen=True)
class RegularizedEquilibrium:
    """Saddle point of the KL-regularized game with its certificates.

    ``value`` is ``f(row, col)``, ``gap`` the regularized duality gap, ``residual`` the L1
    distance of ``(row, col)`` from the softmax best responses to each other.
    """

    row: np.ndarray
    col: np.ndarray
    value: float
    gap: float
    residual: float
    iterations: int
    seconds: float


def _kl(p: np.ndarray, log_p: np.ndarray, log_q: np.ndarray) -> float:
    return float(np.dot(p, log_p - log_q))


def regularized_certificate(A, beta, log_mu, log_nu, x, y, Ay=None, xA=None):
    """``(value, gap, residual)`` of ``(x, y)``, from the strategies alone."""
    Ay = A @ y if Ay is None else Ay
    xA = x @ A if xA is None else xA
    log_x = np.log(np.maximum(x, 1e-300))
    log_y = np.log(np.maximum(y, 1e-300))
    kl_x, kl_y = _kl(x, log_x, log_mu), _kl(y, log_y, log_nu)
    row_best = log_mu + Ay / beta
    col_best = log_nu - xA / beta
    gap = beta * (logsumexp(row_best) + kl_y + logsumexp(col_best) + kl_x)
    residual = max(np.abs(x - softmax(row_best)).sum(), np.abs(y - softmax(col_best)).sum())
    value = float(x @ Ay) - beta * kl_x + beta * kl_y
    return value, max(float(gap), 0.0), float(residual)


def _reference(p: Any, size: int, name: str) -> np.ndarray:
    if p is None:
        return np.full(size, 1.0 / size)
    p = as_strategy(p, size, name)
    if (p <= 0).any():
        raise ValueError(f"{name} must be strictly positive (the KL to it is infinite elsewhere)")
    return p


def solve_regularized(
    A: Any,
    beta: float,
    ref_row: Any = None,
    ref_col: Any = None,
    tol: float = 1e-12,
    max_iter: int = 100_000,
    eta: float | None = None,
) -> RegularizedEquilibrium:
    """Saddle point of ``x^T A y - beta KL(x||ref_row) + beta KL(y||ref_col)`` (row maximizes).

    References default to uniform. Stops when the regularized duality gap (checked every few
    iterations) is ``<= tol`` or after ``max_iter`` mirror-prox iterations (each costs four
    matrix-vector products). The gap grows quadratically with the distance to the saddle
    point, so a gap of ``tol`` places each strategy within about ``sqrt(2 tol / beta)`` of it
    in L1 norm.
    """
    A = as_matrix(A)
    m, n = A.shape
    if not (isinstance(beta, int | float) and np.isfinite(beta) and beta > 0):
        raise ValueError(f"beta must be a positive finite number, got {beta!r}")
    tol = check_tolerance(tol)
    if not (isinstance(max_iter, int) and max_iter > 0):
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    log_mu = np.log(_reference(ref_row, m, "ref_row"))
    log_nu = np.log(_reference(ref_col, n, "ref_col"))
    scale = max(float(np.abs(A).max()), 1e-12)
    eta = 1.0 / (2.0 * scale) if eta is None else eta
    if not (np.isfinite(eta) and 0 < eta <= 1.0 / scale):
        raise ValueError(f"eta must lie in (0, 1 / max|A|], got {eta!r}")
    start = time.perf_counter()
    decay = 1.0 / (1.0 + eta * beta)
    log_x, log_y = log_mu.copy(), log_nu.copy()
    x, y = np.exp(log_x), np.exp(log_y)
    Ay, xA, Ay_half, xA_half = np.empty(m), np.empty(n), np.empty(m), np.empty(n)

    def prox(log_p, log_ref, direction):
        z = decay * (log_p + eta * direction + eta * beta * log_ref)
        z -= z.max()
        return z - np.log(np.exp(z).sum())

    iterations = 0
    while True:
        mat_vec(A, y, Ay)
        vec_mat(x, A, xA)
        if iterations % CHECK_EVERY == 0 or iterations >= max_iter:
            value, gap, residual = regularized_certificate(A, beta, log_mu, log_nu, x, y, Ay, xA)
            if gap <= tol or iterations >= max_iter:
                break
        half_x, half_y = np.exp(prox(log_x, log_mu, Ay)), np.exp(prox(log_y, log_nu, -xA))
        mat_vec(A, half_y, Ay_half)
        vec_mat(half_x, A, xA_half)
        log_x, log_y = prox(log_x, log_mu, Ay_half), prox(log_y, log_nu, -xA_half)
        x, y = np.exp(log_x), np.exp(log_y)
        iterations += 1
    return RegularizedEquilibrium(
        row=x,
        col=y,
        value=value,
        gap=gap,
        residual=residual,
        iterations=iterations,
        seconds=time.perf_counter() - start,
    )
