"""Driver models: IDM car following, MOBIL lane changing, and heterogeneous driver types.

The Intelligent Driver Model (Treiber, Hennecke and Helbing 2000) gives a vehicle's acceleration
from its speed ``v``, desired speed ``v0``, gap ``s`` and approach rate ``dv = v - v_leader``:

    a_IDM = a (1 - (v / v0)^delta - (s*(v, dv) / s)^2),  s* = s0 + v T + v dv / (2 sqrt(a b)).

MOBIL (Kesting, Treiber and Helbing 2007) changes lane when it is safe for the new follower
(its braking stays below ``b_safe``) and the own gain plus ``politeness`` times the followers'
gains exceeds a threshold.

Each vehicle draws its parameters from a driver type (cautious, normal, aggressive, or
SUMO's default passenger car) with log-normal noise; ``traffic="mild"`` or ``"chaotic"`` sets
the mix of the first three and the noise (desired speeds capped at the limit);
``traffic="sumo"`` makes every driver SUMO's default car (its ``vType`` defaults, all exact:
accel 2.6 m/s^2, decel 4.5 m/s^2, tau 1 s, minGap 2.5 m, length 5 m; and a desired speed of
the limit times a speed factor drawn as SUMO's ``normc(1, 0.1, 0.2, 2)``, so that about half
of them drive above the limit, as in SUMO), to drive the demand of a SUMO route file with the
vehicles SUMO would use.
"""

from __future__ import annotations

import numpy as np
from numba import njit

DELTA = 4.0  # idm() multiplies it out: change both together
B_SAFE = 4.0  # m/s^2, MOBIL's safe braking limit for the new follower
B_MAX = 9.0  # m/s^2, physical braking limit
FREE_GAP = 1e6

DRIVER_TYPES = ("cautious", "normal", "aggressive", "passenger")
# Columns of a driver's parameter row.
V0, HEADWAY, ACCEL, DECEL, MIN_GAP, POLITENESS, THRESHOLD, CRITICAL_GAP, LENGTH = range(9)
PARAM_NAMES = (
    "v0",
    "headway",
    "accel",
    "decel",
    "min_gap",
    "politeness",
    "threshold",
    "critical_gap",
    "length",
)
# v0 is a fraction of the speed limit (capped at 1 but for SUMO's car, see sample_drivers).
TYPE_PARAMS = np.array(
    [
        # v0    T    a    b    s0   p     a_thr  t_c  length
        [0.80, 2.0, 1.0, 1.5, 3.0, 0.50, 0.30, 6.0, 4.5],  # cautious
        [0.93, 1.5, 1.5, 2.0, 2.0, 0.25, 0.20, 4.5, 4.5],  # normal
        [1.00, 1.0, 2.5, 3.0, 1.5, 0.00, 0.05, 3.0, 4.5],  # aggressive
        [1.00, 1.0, 2.6, 4.5, 2.5, 0.25, 0.20, 4.5, 5.0],  # passenger (SUMO's default car)
    ]
)
SUMO_SPEED_FACTOR = (0.2, 2.0)  # bounds of SUMO's default speedFactor, normc(1, 0.1, 0.2, 2)
TRAFFIC_MIX = {
    "mild": (np.array([0.3, 0.6, 0.1, 0.0]), 0.05),
    "chaotic": (np.array([0.1, 0.4, 0.5, 0.0]), 0.20),
    "sumo": (np.array([0.0, 0.0, 0.0, 1.0]), 0.10),
}


def sample_drivers(rng: np.random.Generator, n: int, traffic: str) -> tuple[np.ndarray, np.ndarray]:
    """Driver types ``(n,)`` and parameters ``(n, 9)`` (columns ``PARAM_NAMES``) for ``n``
    new vehicles (module docstring: ``"sumo"`` draws only the speed factor)."""
    if traffic not in TRAFFIC_MIX:
        raise ValueError(f"traffic must be one of {list(TRAFFIC_MIX)}, got {traffic!r}")
    mix, noise = TRAFFIC_MIX[traffic]
    cumulative = np.cumsum(mix)
    kinds = np.minimum(
        np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right"), len(mix) - 1
    ).astype(np.int8)
    if traffic == "sumo":  # SUMO's speed factor, the vType's other parameters exact
        params = TYPE_PARAMS[kinds].copy()
        params[:, V0] = speed_factors(rng, n, noise)
        return kinds, params
    params = TYPE_PARAMS[kinds] * np.exp(noise * rng.standard_normal((n, TYPE_PARAMS.shape[1])))
    params[:, V0] = np.minimum(params[:, V0], 1.0)
    params[:, LENGTH] = TYPE_PARAMS[kinds, LENGTH]
    return kinds, params


def speed_factors(rng: np.random.Generator, n: int, deviation: float) -> np.ndarray:
    """``n`` speed factors drawn as SUMO's ``normc(1, deviation, 0.2, 2)``: normal draws
    outside the bounds ``SUMO_SPEED_FACTOR`` drawn again, as SUMO does."""
    factors = 1.0 + deviation * rng.standard_normal(n)
    low, high = SUMO_SPEED_FACTOR
    out = (factors < low) | (factors > high)
    while out.any():
        factors[out] = 1.0 + deviation * rng.standard_normal(int(out.sum()))
        out = (factors < low) | (factors > high)
    return factors


@njit(cache=True, inline="always")
def idm(v: float, v0: float, gap: float, v_lead: float, params: np.ndarray, i: int) -> float:
    """IDM acceleration of vehicle ``i`` (parameters ``params[:, i]``); free road when
    ``gap >= FREE_GAP``."""
    a = params[ACCEL, i]
    r = v / max(v0, 1e-3)
    r2 = r * r
    free = 1.0 - r2 * r2  # (v / v0) ** DELTA, DELTA = 4: a product, not a pow call
    if gap >= FREE_GAP:
        return a * free
    dynamic = v * params[HEADWAY, i] + v * (v - v_lead) / (2.0 * np.sqrt(a * params[DECEL, i]))
    s_star = params[MIN_GAP, i] + max(0.0, dynamic)
    return a * (free - (s_star / max(gap, 1e-3)) ** 2)


def idm_reference(v, v0, gap, v_lead, params) -> np.ndarray:
    """Vectorised NumPy IDM over arrays (``params`` is ``(9, n)``); same formula as :func:`idm`."""
    a = params[ACCEL]
    free = 1.0 - (v / np.maximum(v0, 1e-3)) ** DELTA
    dynamic = v * params[HEADWAY] + v * (v - v_lead) / (2.0 * np.sqrt(a * params[DECEL]))
    s_star = params[MIN_GAP] + np.maximum(0.0, dynamic)
    interaction = np.where(gap >= FREE_GAP, 0.0, (s_star / np.maximum(gap, 1e-3)) ** 2)
    return a * (free - interaction)


@njit(cache=True)
def mobil_gain(
    self_gain: float,
    new_follower_gain: float,
    old_follower_gain: float,
    params: np.ndarray,
    i: int,
) -> float:
    """MOBIL incentive of vehicle ``i`` minus its threshold; a change is wanted when positive."""
    politeness = params[POLITENESS, i]
    return self_gain + politeness * (new_follower_gain + old_follower_gain) - params[THRESHOLD, i]
