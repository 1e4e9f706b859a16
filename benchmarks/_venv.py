"""Anchors whose dependencies metagame does not carry, installed on first use under
benchmarks/.venvs (never into the project's venv): either a virtualenv of their own (their
dependencies clash with metagame's, e.g. highway-env pulls pygame-ce) or a ``pip install
--target`` folder that the project's python puts on its ``PYTHONPATH``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

VENVS = Path(__file__).resolve().parent / ".venvs"


def ensure_venv(name: str, packages: list[str], probe: str, timeout: float = 900) -> Path | None:
    """The python of the virtualenv ``benchmarks/.venvs/<name>`` once ``probe`` (Python source)
    runs there, building it with ``python -m venv`` + ``pip install packages`` when it does not;
    None (with the reason printed) when it cannot be built."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    build = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "-q", *packages],
    ]
    ready = _ensure(venv, packages, build, [str(python), "-c", probe], None, timeout)
    return python if ready else None


def ensure_target(name: str, packages: list[str], probe: str, timeout: float = 600) -> Path | None:
    """The folder ``benchmarks/.venvs/<name>`` once ``probe`` runs in this python with the
    folder on its ``PYTHONPATH``, filling it with ``pip install --no-deps --target`` when it
    does not; None (with the reason printed) when it cannot be filled."""
    target = VENVS / name
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target)]
    env = {**os.environ, "PYTHONPATH": str(target)}
    ready = _ensure(target, packages, [pip + packages], [sys.executable, "-c", probe], env, timeout)
    return target if ready else None


def _ensure(
    place: Path,
    packages: list[str],
    build: list[list[str]],
    probe: list[str],
    env: dict | None,
    timeout: float,
) -> bool:
    """Whether ``probe`` succeeds, running the ``build`` commands (which install ``packages``
    into ``place``) first when it does not."""
    if place.exists() and _runs(probe, env):
        return True
    print(f"building {place} (pip install {' '.join(packages)}) ...", flush=True)
    try:
        for cmd in build:
            subprocess.run(cmd, check=True, capture_output=True, timeout=timeout)
    except subprocess.CalledProcessError as err:
        print(f"could not build {place}: {err}: {err.stderr.decode()[-400:]}")
        return False
    except (subprocess.SubprocessError, OSError) as err:
        print(f"could not build {place}: {err}")
        return False
    if _runs(probe, env):
        return True
    print(f"{place} is built but `{probe[-1]}` fails there")
    return False


def _runs(cmd: list[str], env: dict | None) -> bool:
    try:
        return subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    except OSError:
        return False
