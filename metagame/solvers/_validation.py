"""Input checks shared by every solver: each failure is a ValueError that names the problem."""

from __future__ import annotations

from typing import Any

import numpy as np


def as_matrix(A: Any, name: str = "A", *, allow_empty: bool = False) -> np.ndarray:
    """A finite 2-D float64 array, or ValueError naming what is wrong with ``A``."""
    return as_array(A, name, ndim=2, allow_empty=allow_empty)


def as_array(A: Any, name: str, *, ndim: int | None = None, allow_empty: bool = False):
    """A finite float64 array with ``ndim`` dimensions (any when None)."""
    try:
        arr = np.asarray(A, dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{name} must be a numeric array (ragged or non-numeric input: {err})"
        ) from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if not np.isfinite(arr).all():  # one pass in the common case; name the culprit otherwise
        raise ValueError(f"{name} contains {'NaN' if np.isnan(arr).any() else 'inf'}")
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
    if (arr < -atol).any() or abs(arr.sum() - 1.0) > atol:
        raise ValueError(f"{name} is not a probability vector (sum {arr.sum():.6g})")
    return np.clip(arr, 0.0, None) / max(np.clip(arr, 0.0, None).sum(), 1e-300)


def check_tolerance(tol: float, name: str = "tol") -> float:
    if not (isinstance(tol, int | float) and np.isfinite(tol) and tol > 0):
        raise ValueError(f"{name} must be a positive finite number, got {tol!r}")
    return float(tol)
