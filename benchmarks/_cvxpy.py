"""OpenSpiel's LP solver needs cvxpy and ECOS, which metagame does not depend on.

The benchmarks that run it as an anchor install them, pinned, into ``benchmarks/.venvs/cvxpy``
(``_venv.ensure_target``: ``pip install --target``, never into the project's venv) and put that
folder on the anchor subprocess's ``PYTHONPATH``.
"""

from __future__ import annotations

import os
from pathlib import Path

from _venv import ensure_target  # benchmarks/ is on sys.path when run as a script

PINNED = [
    "cvxpy==1.9.3",
    "ecos==2.0.14",
    "osqp==1.1.3",
    "clarabel==0.11.1",
    "scs==3.3.1",
    "qdldl==0.1.9.post1",
]


def ensure_cvxpy() -> Path | None:
    """The folder cvxpy and ECOS import from, installed there on first use; None (with the
    reason printed) when they cannot be installed."""
    return ensure_target("cvxpy", PINNED, "import cvxpy, ecos")


def anchor_env(target: Path) -> dict[str, str]:
    """The environment of an anchor subprocess that imports cvxpy from ``target``."""
    path = os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "PYTHONPATH": path}
