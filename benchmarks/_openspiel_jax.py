"""The virtualenv OpenSpiel's PSRO with RL oracles runs in (``benchmarks/.venvs/openspiel-jax``).

In OpenSpiel 2 (the version metagame uses), ``psro_v2.rl_policy`` builds its DQN and policy
gradient oracles on JAX (``open_spiel.python.jax``: flax, haiku, rlax), and ``psro_v2`` imports
cvxpy (the Nash meta-solver's LP), matplotlib and networkx (alpha-rank's plots). None of these
are metagame dependencies, so the anchor gets its own virtualenv, built by ``_venv.ensure_venv``
on first use with the pinned packages below.
"""

from __future__ import annotations

from pathlib import Path

from _venv import ensure_venv  # benchmarks/ is on sys.path when run as a script

PINNED = [
    "open_spiel==2.0.2",
    "jax[cpu]==0.10.2",
    "flax==0.12.8",
    "dm-haiku==0.0.17",
    "rlax==0.1.9",
    "distrax==0.1.9",
    "chex==0.1.92",
    "optax==0.2.8",
    "orbax-checkpoint==0.12.8",
    "etils==1.15.0",
    "cvxpy==1.9.3",
    "ecos==2.0.14",
    "osqp==1.1.3",
    "matplotlib==3.11.2",
    "networkx==3.6.1",
]
PROBE = "from open_spiel.python.algorithms.psro_v2 import psro_v2, rl_oracle, rl_policy"


def ensure_openspiel_jax() -> Path | None:
    """The virtualenv's python with OpenSpiel's PSRO importable (building it if needed), or
    None (with the reason printed) when it cannot be built."""
    return ensure_venv("openspiel-jax", PINNED, PROBE, timeout=1800)
