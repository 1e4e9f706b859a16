"""OpenSpiel's LP solver needs cvxpy and ECOS, which metagame does not depend on.

The benchmarks that run it as an anchor install them, pinned, into ``benchmarks/.venvs/cvxpy``
with ``pip install --target`` (never into the project's venv) and put that folder on the
anchor subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parent / ".venvs" / "cvxpy"
PINNED = [
    "cvxpy==1.9.3",
    "ecos==2.0.14",
    "osqp==1.1.3",
    "clarabel==0.11.1",
    "scs==3.3.1",
    "qdldl==0.1.9.post1",
]


def ensure_cvxpy() -> tuple[bool, str]:
    """cvxpy and ECOS importable from ``TARGET``, installed there on first use."""
    env = {**os.environ, "PYTHONPATH": f"{TARGET}"}
    probe = [sys.executable, "-c", "import cvxpy, ecos"]
    if TARGET.exists() and subprocess.run(probe, env=env, capture_output=True).returncode == 0:
        return True, "ok"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(TARGET),
                *PINNED,
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as err:
        return False, f"pip install of cvxpy/ECOS into {TARGET} failed: {err}"
    ok = subprocess.run(probe, env=env, capture_output=True)
    return ok.returncode == 0, "ok" if ok.returncode == 0 else ok.stderr.decode()[-300:]


def anchor_env() -> dict[str, str]:
    """The environment of an anchor subprocess that imports cvxpy from ``TARGET``."""
    path = os.pathsep.join(filter(None, [str(TARGET), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path}
