"""Predictive regret matching+ (PRM+) for large dense zero-sum games.

Each player keeps thresholded cumulative regrets ``R`` and plays ``[R + m]^+`` normalized, where
the prediction ``m`` is its last instantaneous regret vector (Farina, Kroer and Sandholm 2021,
"Faster game solving via predictive Blackwell approachability"). With alternating updates the
column player responds to the row player's current strategy and the row player to the column
player's new one, costing one ``x^T A`` and one ``A y`` per iteration. The linearly weighted
averages ``(x_bar, y_bar)`` converge to an equilibrium; their NashConv is tracked exactly at
O(m + n) per iteration by averaging the utility vectors that the products already produced.

For a skew-symmetric game (``A = -A^T``, as ``P - 1/2`` for a preference matrix ``P``) both
players share one strategy and ``x^T A = -(A x)^T``, so one product per iteration suffices.

``prm_plus`` runs a chunk of iterations on the arrays of a ``PRMState`` (the solver calls it in
chunks to honour time limits); ``prm_plus_reference`` is the plain-NumPy twin the tests compare
against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from metagame.solvers._linalg import mat_vec, mat_vec_serial, vec_mat, vec_mat_serial


@njit(cache=True, nogil=True)
def half_step(played, u, w, avg, avg_u, R, pred, x, sign):
    """Average ``played`` and the product ``u`` it produced (weight ``w``); one PRM+ step of ``x``.

    ``x`` observes utilities ``sign * u`` at its current value, adds the instantaneous regret to
    ``R`` (thresholded at zero), keeps it as the prediction ``pred`` and becomes
    ``[R + pred]^+`` normalized (uniform if that is zero).
    """
    for i in range(played.shape[0]):
        avg[i] += w * played[i]
    for i in range(u.shape[0]):
        avg_u[i] += w * u[i]
    ev = 0.0
    for i in range(x.shape[0]):
        ev += x[i] * u[i]
    total = 0.0
    for i in range(x.shape[0]):
        r = sign * (u[i] - ev)
        R[i] = max(R[i] + r, 0.0)
        pred[i] = r
        x[i] = max(R[i] + r, 0.0)
        total += x[i]
    if total > 0.0:
        x /= total
    else:
        x[:] = 1.0 / x.shape[0]


@njit(cache=True)
def prm_plus(A, x, y, Rx, Ry, px, py, xbar, ybar, Ay_bar, xA_bar, gx, gy, t0, iters, tol):
    """Alternating PRM+ for up to ``iters`` iterations after ``t0`` done ones; stops when the
    averages' NashConv is ``<= tol``. Updates the state in place; returns ``(done, gap)``."""
    gap = np.inf
    done = 0
    for k in range(iters):
        w = float(t0 + k + 1)
        vec_mat_serial(x, A, gy)
        half_step(x, gy, w, xbar, xA_bar, Ry, py, y, -1.0)
        mat_vec_serial(A, y, gx)
        half_step(y, gx, w, ybar, Ay_bar, Rx, px, x, 1.0)
        gap = (Ay_bar.max() - xA_bar.min()) / (0.5 * w * (w + 1.0))
        done = k + 1
        if gap <= tol:
            break
    return done, gap


@njit(cache=True)
def prm_plus_symmetric(A, x, Rx, px, xbar, Ax_bar, gx, t0, iters, tol):
    """Self-play PRM+ on a skew-symmetric ``A``: one ``A x`` per iteration, gap ``2 max(A x)``."""
    gap = np.inf
    done = 0
    for k in range(iters):
        w = float(t0 + k + 1)
        mat_vec_serial(A, x, gx)
        half_step(x, gx, w, xbar, Ax_bar, Rx, px, x, 1.0)
        gap = 2.0 * Ax_bar.max() / (0.5 * w * (w + 1.0))
        done = k + 1
        if gap <= tol:
            break
    return done, gap


@dataclass
class PRMState:
    """Regrets, predictions, current and averaged strategies of a PRM+ run."""

    x: np.ndarray
    y: np.ndarray
    symmetric: bool
    t: int = 0
    gap: float = np.inf

    def __post_init__(self) -> None:
        m, n = self.x.shape[0], self.y.shape[0]
        self.Rx, self.px, self.xbar, self.Ay_bar, self.gx = (np.zeros(m) for _ in range(5))
        self.Ry, self.py, self.ybar, self.xA_bar, self.gy = (np.zeros(n) for _ in range(5))

    def run(self, A: np.ndarray, iters: int, tol: float, threads: int | None = 1) -> None:
        """Up to ``iters`` more iterations; stops once the averages' NashConv is ``<= tol``.

        On one thread the whole chunk runs in one Numba call; otherwise the same steps run from
        Python and each iteration's products are shared among ``threads`` threads (if None, as
        ``_threads.share`` decides product by product), with the same numbers as on one thread.
        """
        run = self._chunk if threads == 1 else self._chunk_threaded
        done, gap = run(A, iters, tol, threads)
        self.t += int(done)
        self.gap = float(gap)

    def _chunk(self, A, iters, tol, threads):
        if self.symmetric:
            return prm_plus_symmetric(
                A, self.x, self.Rx, self.px, self.xbar, self.Ay_bar, self.gx, self.t, iters, tol
            )
        return prm_plus(
            A,
            self.x,
            self.y,
            self.Rx,
            self.Ry,
            self.px,
            self.py,
            self.xbar,
            self.ybar,
            self.Ay_bar,
            self.xA_bar,
            self.gx,
            self.gy,
            self.t,
            iters,
            tol,
        )

    def _chunk_threaded(self, A, iters, tol, threads):
        """``prm_plus`` (or ``prm_plus_symmetric``) step for step, with threaded products."""
        s = self
        gap, done = np.inf, 0
        for k in range(iters):
            w = float(s.t + k + 1)
            if s.symmetric:
                mat_vec(A, s.x, s.gx, threads)
                half_step(s.x, s.gx, w, s.xbar, s.Ay_bar, s.Rx, s.px, s.x, 1.0)
                gap = 2.0 * s.Ay_bar.max() / (0.5 * w * (w + 1.0))
            else:
                vec_mat(s.x, A, s.gy, threads)
                half_step(s.x, s.gy, w, s.xbar, s.xA_bar, s.Ry, s.py, s.y, -1.0)
                mat_vec(A, s.y, s.gx, threads)
                half_step(s.y, s.gx, w, s.ybar, s.Ay_bar, s.Rx, s.px, s.x, 1.0)
                gap = (s.Ay_bar.max() - s.xA_bar.min()) / (0.5 * w * (w + 1.0))
            done = k + 1
            if gap <= tol:
                break
        return done, gap

    def average(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.xbar / self.xbar.sum()
        return (x, x.copy()) if self.symmetric else (x, self.ybar / self.ybar.sum())


def prm_plus_reference(A: np.ndarray, iters: int, symmetric: bool = False):
    """Plain-NumPy PRM+ from uniform strategies; returns the averaged ``(x_bar, y_bar)``."""
    m, n = A.shape

    def step(R, x, u):
        r = u - x @ u
        R[:] = np.maximum(R + r, 0.0)
        nxt = np.maximum(R + r, 0.0)
        return nxt / nxt.sum() if nxt.sum() > 0 else np.full_like(x, 1.0 / x.size)

    x, y = np.full(m, 1.0 / m), np.full(n, 1.0 / n)
    Rx, Ry, xbar, ybar = np.zeros(m), np.zeros(n), np.zeros(m), np.zeros(n)
    for t in range(1, iters + 1):
        xbar += t * x
        if symmetric:
            x = step(Rx, x, A @ x)
            continue
        y = step(Ry, y, -(x @ A))
        ybar += t * y
        x = step(Rx, x, A @ y)
    xbar /= xbar.sum()
    return (xbar, xbar.copy()) if symmetric else (xbar, ybar / ybar.sum())
