"""Anchors that live in their own virtualenv under benchmarks/.venvs (their dependencies clash
with metagame's, e.g. highway-env pulls pygame-ce), built on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def ensure_venv(name: str, packages: list[str], probe: str) -> Path | None:
    """The python of ``benchmarks/.venvs/<name>`` once ``probe`` (Python source) runs there,
    building the venv with ``python -m venv`` + ``pip install packages`` when it does not;
    None (with the reason printed) when it cannot be built."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    check = [str(python), "-c", probe]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    try:
        print(
            f"building {venv} (python -m venv + pip install {' '.join(packages)}) ...", flush=True
        )
        subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(venv)], check=True, capture_output=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *packages],
            check=True,
            capture_output=True,
            timeout=900,
        )
    except (subprocess.SubprocessError, OSError) as err:
        print(f"could not build the {name} virtualenv: {err}")
        return None
    return python if subprocess.run(check, capture_output=True).returncode == 0 else None
