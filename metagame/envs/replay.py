"""Replays: a match as the environment's name, kwargs, seed and action sequence.

A replay holds no frames: playing it back re-simulates the environment from its seed, which is
exact because every environment is deterministic given its seed and the actions. ``verify``
re-simulates and checks the recorded returns. Loading needs neither Ray nor RLlib.

File format: gzip-compressed JSON (``.replay.json.gz``), one object with the fields of
:class:`Replay`. NumPy arrays in kwargs or actions are stored as nested lists and come back as
arrays (kwargs) or lists/scalars (actions, converted by the env's action space on step).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

FORMAT_VERSION = 1


def to_jsonable(value: Any) -> Any:
    """Converts NumPy scalars and arrays (also nested in dicts and lists) to JSON types."""
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def from_jsonable(value: Any) -> Any:
    """Inverse of :func:`to_jsonable`."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        return {k: from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v) for v in value]
    return value


@dataclass
class Replay:
    """One recorded match.

    ``actions`` is, per step, a dict agent -> action for Parallel envs, or an
    ``[agent, action]`` pair for AEC envs (``action`` is None for a finished agent's step).
    """

    env: str
    env_kwargs: dict[str, Any]
    seed: int
    kind: str  # "parallel" or "aec"
    actions: list[Any] = field(default_factory=list)
    policies: dict[str, str] = field(default_factory=dict)
    returns: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = FORMAT_VERSION

    @property
    def length(self) -> int:
        return len(self.actions)

    def save(self, path: str | Path) -> Path:
        """Writes the replay atomically (temp file then rename); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(to_jsonable(asdict(self)), f, separators=(",", ":"))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Replay:
        """Reads a replay; a missing or malformed file raises ValueError naming it."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"replay file not found: {path}")
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, EOFError, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"replay file {path} is not a valid replay: {err}") from None
        missing = {"env", "env_kwargs", "seed", "kind", "actions"} - set(data)
        if missing:
            raise ValueError(f"replay file {path} lacks fields: {', '.join(sorted(missing))}")
        if data.get("version", 0) > FORMAT_VERSION:
            raise ValueError(f"replay file {path} has newer format version {data['version']}")
        data = from_jsonable(data)
        # Actions stay as plain lists: only kwargs hold arrays an env needs as arrays.
        return cls(**data)

    def make_env(self, **overrides: Any):
        """Makes this replay's environment (``overrides`` e.g. ``render_mode``)."""
        from metagame.envs.registration import make

        return make(self.env, **{**self.env_kwargs, **overrides})


def _action(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        return from_jsonable(value)
    if isinstance(value, list):
        return np.asarray(value, dtype=np.float32)
    return value


class ReplayStep(NamedTuple):
    """The environment after ``step`` steps of a replay, with returns and infos so far."""

    env: Any
    step: int
    returns: dict[str, float]
    infos: dict[str, Any]


def simulate(replay: Replay, env=None) -> Iterator[ReplayStep]:
    """Re-simulates ``replay``; yields a :class:`ReplayStep` after reset and after each step.

    ``env`` may be passed (e.g. made with ``render_mode="rgb_array"``); by default it is made
    from the replay. The env is left in its final state.
    """
    env = env if env is not None else replay.make_env()
    if replay.kind not in ("parallel", "aec"):
        raise ValueError(f"replay kind must be 'parallel' or 'aec', got {replay.kind!r}")
    reset = env.reset(seed=replay.seed)
    returns = dict.fromkeys(env.possible_agents, 0.0)
    infos = reset[1] if replay.kind == "parallel" else dict(env.infos)
    yield ReplayStep(env, 0, dict(returns), infos)
    for t, entry in enumerate(replay.actions, start=1):
        if replay.kind == "parallel":
            _, rewards, _, _, infos = env.step({a: _action(v) for a, v in entry.items()})
        else:
            agent, action = entry
            if env.agent_selection != agent:
                raise ValueError(
                    f"replay diverged at step {t}: expected {agent} to act, "
                    f"env selected {env.agent_selection}"
                )
            # A finished agent's step (action None) removes it; its rewards were counted.
            env.step(None if action is None else _action(action))
            rewards = env.rewards if action is not None else {}
            infos = dict(env.infos)
        for a, r in rewards.items():
            returns[a] = returns.get(a, 0.0) + float(r)
        yield ReplayStep(env, t, dict(returns), infos)


def verify(replay: Replay, tol: float = 1e-9) -> dict[str, float]:
    """Re-simulates and checks the recorded returns; returns the re-simulated returns."""
    *_, last = simulate(replay)
    returns = last.returns
    for agent, recorded in replay.returns.items():
        got = returns.get(agent, 0.0)
        if not math.isclose(got, recorded, rel_tol=tol, abs_tol=tol):
            raise ValueError(
                f"replay of {replay.env} does not reproduce: {agent} returned {got}, "
                f"recorded {recorded}"
            )
    return returns
