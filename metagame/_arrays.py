"""Array checks shared by solvers, envs and agents (the bottom layer: it imports only NumPy);
each failure is a ValueError that names the problem."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def as_matrix(A: Any, name: str = "A", *, allow_empty: bool = False) -> np.ndarray:
    """A finite 2-D float64 array, or ValueError naming what is wrong with ``A``."""
    return as_array(A, name, ndim=2, allow_empty=allow_empty)


# Entries beyond this magnitude are refused: the solvers form weighted sums of up to ~2^60
# entries' worth (PRM+'s linearly weighted averages over millions of iterations, the simplex's
# affine map onto [1, 2]), which must stay finite for the certificate to mean anything. A
# game's equilibria do not change when its payoffs are multiplied by a positive number, so the
# message says to rescale (e.g. by a power of two, which is exact).
MAX_MAGNITUDE = 2.0**960  # about 9.7e288


def as_array(A: Any, name: str, *, ndim: int | None = None, allow_empty: bool = False):
    """A finite, real, C-ordered, writeable float64 array with ``ndim`` dimensions (any when
    None), or a ValueError whose message starts with ``name``.

    Refused: ragged or non-numeric input (strings, objects that are not real numbers), complex
    numbers (never silently dropped to their real part), NaN, inf, and entries above
    ``MAX_MAGNITUDE``. Other layouts and dtypes (Fortran order, read-only, float32, integers,
    booleans) are converted, so each Numba kernel is compiled for one layout only.
    """
    try:
        raw = np.asarray(A)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must be a numeric array (ragged or non-numeric: {err})") from None
    if raw.dtype.kind == "c":
        raise ValueError(f"{name} is complex (dtype {raw.dtype}); payoffs must be real numbers")
    if raw.dtype.kind == "O":
        bad = [v for v in raw.ravel() if not isinstance(v, numbers.Real)]
        if bad:
            raise ValueError(
                f"{name} must be a numeric array (ragged or non-numeric entry {bad[0]!r:.60})"
            )
    elif raw.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {raw.dtype}")
    arr = np.require(raw.astype(np.float64, copy=False), requirements=["C", "W"])
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.size == 0:
        return arr
    # min and max propagate NaN and reach inf: two passes that allocate nothing (temporaries
    # from ``isfinite`` and ``abs`` took 0.04-0.26 s a call on a 5000x5000 game, page faults)
    lo, hi = float(arr.min()), float(arr.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):  # name the culprit
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        kind = "NaN" if np.isnan(arr[where]) else "inf"
        raise ValueError(f"{name} contains {kind} (at index {where})")
    if max(-lo, hi) > MAX_MAGNITUDE:
        raise ValueError(
            f"{name} has entries up to {max(-lo, hi):.3g}, beyond {MAX_MAGNITUDE:.3g}: "
            f"sums of them would overflow; rescale it (equilibria do not change when payoffs "
            f"are multiplied by a positive number)"
        )
    return arr


def as_stack(As: Any, name: str = "As") -> np.ndarray:
    """A finite (B, m, n) float64 stack of matrices."""
    return as_array(As, name, ndim=3)


def as_preference_matrix(P: Any, name: str = "P", atol: float = 1e-6) -> np.ndarray:
    """A square matrix with entries in [0, 1], P + P^T = 1 off the diagonal and 1/2 on it."""
    arr = as_matrix(P, name)
    if arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name} must be square, got shape {arr.shape}")
    if (arr < -atol).any() or (arr > 1 + atol).any():
        raise ValueError(f"{name} is not a preference matrix: entries must lie in [0, 1]")
    if not np.allclose(np.diag(arr), 0.5, atol=atol):
        raise ValueError(f"{name} is not a preference matrix: the diagonal must be 1/2")
    if not np.allclose(arr + arr.T, 1.0, atol=atol):
        i, j = np.unravel_index(np.argmax(np.abs(arr + arr.T - 1.0)), arr.shape)
        raise ValueError(
            f"{name} is not a preference matrix: P[{i},{j}] + P[{j},{i}] = "
            f"{arr[i, j] + arr[j, i]:.6g}, expected 1"
        )
    return arr


def as_strategy(x: Any, n: int, name: str, atol: float = 1e-6) -> np.ndarray:
    """A probability vector of length ``n``."""
    arr = as_array(x, name, ndim=1)
    if arr.shape[0] != n:
        raise ValueError(f"{name} must have length {n}, got {arr.shape[0]}")
    if (arr < -atol).any():
        i = int(np.argmin(arr))
        raise ValueError(
            f"{name} is not a probability vector: entry {i} is negative ({arr[i]:.6g})"
        )
    if abs(arr.sum() - 1.0) > atol:
        raise ValueError(f"{name} is not a probability vector: it sums to {arr.sum():.6g}, not 1")
    return np.clip(arr, 0.0, None) / max(np.clip(arr, 0.0, None).sum(), 1e-300)


def check_tolerance(tol: float, name: str = "tol") -> float:
    if not (isinstance(tol, int | float) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"{name} must be a positive finite number, got {tol!r}")
    return float(tol)
