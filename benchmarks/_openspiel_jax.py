"""The virtualenv OpenSpiel's PSRO with RL oracles runs in (``benchmarks/.venvs/openspiel-jax``).

In OpenSpiel 2 (the version metagame uses), ``psro_v2.rl_policy`` builds its DQN and policy
gradient oracles on JAX (``open_spiel.python.jax``: flax, haiku, rlax), and ``psro_v2`` imports
cvxpy (the Nash meta-solver's LP), matplotlib and networkx (alpha-rank's plots). None of these
are metagame dependencies, so the anchor gets its own virtualenv, built here on first use with
``python -m venv`` + ``pip install`` of the pinned packages below.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venvs" / "openspiel-jax"
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


def ensure_openspiel_jax() -> tuple[Path | None, str]:
    """The virtualenv's python with OpenSpiel's PSRO importable (building it if needed), or
    None and the reason it could not be built."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", PROBE]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, "ok"
    print(f"building {VENV} (python -m venv + pip install OpenSpiel, JAX, cvxpy) ...", flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, capture_output=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PINNED],
            check=True,
            capture_output=True,
            timeout=1800,
        )
    except subprocess.CalledProcessError as err:
        return None, f"building {VENV} failed: {err.stderr.decode()[-400:]}"
    except (subprocess.SubprocessError, OSError) as err:
        return None, f"building {VENV} failed: {err}"
    ok = subprocess.run(probe, capture_output=True)
    return (python, "ok") if ok.returncode == 0 else (None, ok.stderr.decode()[-400:])
