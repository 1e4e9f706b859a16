"""Replays: a match as the environment's name, kwargs, seed and action sequence.

A replay holds no frames: playing it back re-simulates the environment from its seed, which is
exact because every environment is deterministic given its seed and the actions. ``verify``
re-simulates and checks the recorded returns. Loading needs neither Ray nor RLlib.

File format: gzip-compressed JSON (``.replay.json.gz``), one object with the fields of
:class:`Replay`. NumPy arrays are stored as ``{"__ndarray__": nested list, "dtype"}`` (plus
``"shape"`` when empty), with bool, integer, float and str dtypes. In ``env_kwargs`` and
``metadata`` they come back as arrays of the same dtype and shape; ``actions`` keep the stored
JSON form, which is how :func:`metagame.agents.play` records them (the env's action space
converts them on step). A replay whose fields hold JSON values and such arrays round-trips
exactly (tuples come back as lists, NumPy scalars as Python numbers, and a NaN without its
payload bits). Loading checks every field: an unknown key, a bad dtype, a seed that is not a
non-negative integer or a malformed action entry raises ValueError naming the file and the key.
"""

from __future__ import annotations

import gzip
import json
import math
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

FORMAT_VERSION = 1
ARRAY_KINDS = "biufU"  # dtype kinds an array in a replay may have
MAX_BYTES = 256 * 2**20  # decompressed size limit of a replay file


def to_jsonable(value: Any) -> Any:
    """Converts NumPy scalars and arrays (also nested in dicts and lists) to JSON types."""
    if isinstance(value, np.ndarray):
        stored = {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
        # nested lists lose the shape of an empty array only; other arrays keep the form that
        # older files and hashed env ids (metagame.agents.rllib.env) have
        return {**stored, "shape": list(value.shape)} if value.size == 0 else stored
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def from_jsonable(value: Any, key: str = "value") -> Any:
    """Inverse of :func:`to_jsonable`; a malformed array raises ValueError naming ``key``."""
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _array(value, key)
        return {k: from_jsonable(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [from_jsonable(v, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _array(value: dict[str, Any], key: str) -> np.ndarray:
    extra = set(value) - {"__ndarray__", "dtype", "shape"}
    if extra or "dtype" not in value:
        raise ValueError(f"{key}: an array needs '__ndarray__' and 'dtype' (and 'shape') only")
    try:
        dtype = np.dtype(value["dtype"]) if isinstance(value["dtype"], str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"{key}: bad array dtype {value['dtype']!r:.100}")
    try:
        array = np.asarray(value["__ndarray__"], dtype=dtype)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"{key}: array entries do not fit dtype {dtype}: {err}") from None
    shape = value.get("shape", list(array.shape))
    if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
        raise ValueError(f"{key}: array shape must be a list of non-negative integers")
    if math.prod(shape) != array.size or (array.size and tuple(shape) != array.shape):
        raise ValueError(f"{key}: array of shape {array.shape} stored with shape {shape}")
    try:
        return array.reshape(shape)
    except ValueError as err:
        raise ValueError(f"{key}: array shape {shape}: {err}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        """Writes the replay atomically (temp file then rename); returns the path.

        A field JSON cannot hold raises ValueError before anything is written.
        """
        path = Path(path)
        try:
            text = json.dumps(to_jsonable(asdict(self)), separators=(",", ":"))
        except (TypeError, ValueError) as err:
            raise ValueError(f"replay of {self.env} cannot be written as JSON: {err}") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            f.write(text)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Replay:
        """Reads a replay; a missing or malformed file raises ValueError naming it and the
        offending key."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"replay file not found: {path}")
        try:
            with gzip.open(path, "rb") as f:
                raw = f.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes uncompressed")
            data = json.loads(raw.decode("utf-8"))
        except (
            OSError,
            EOFError,
            zlib.error,
            ValueError,  # also JSONDecodeError and UnicodeDecodeError
            RecursionError,
        ) as err:
            raise ValueError(f"replay file {path} is not a valid replay: {err}") from None
        try:
            return cls(**_checked_fields(data))
        except ValueError as err:
            raise ValueError(f"replay file {path}: {err}") from None

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


_REQUIRED = ("env", "env_kwargs", "seed", "kind", "actions")


def _checked_fields(data: Any) -> dict[str, Any]:
    """The fields of a replay file, each checked; ValueError names the key."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(data) - {f.name for f in fields(Replay)})
    if unknown:
        raise ValueError(f"unknown keys: {', '.join(map(repr, unknown))}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ValueError(f"lacks fields: {', '.join(missing)}")
    version = data.get("version", FORMAT_VERSION)
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"key 'version' is {version!r:.50}; this metagame reads 1..{FORMAT_VERSION}"
        )
    if not isinstance(data["env"], str):
        raise ValueError(f"key 'env' must be a string, got {data['env']!r:.100}")
    if not _is_int(data["seed"]) or data["seed"] < 0:
        raise ValueError(f"key 'seed' must be a non-negative integer, got {data['seed']!r:.100}")
    if data["kind"] not in ("parallel", "aec"):
        raise ValueError(f"key 'kind' must be 'parallel' or 'aec', got {data['kind']!r:.100}")
    out = dict(data)
    for key in ("env_kwargs", "metadata"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise ValueError(f"key {key!r} must be an object")
        out[key] = from_jsonable(value, key)
    _check_mapping(data.get("policies", {}), "policies", lambda v: isinstance(v, str), "strings")
    _check_mapping(data.get("returns", {}), "returns", _is_number, "numbers")
    _check_actions(data["actions"], data["kind"])
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_mapping(value: Any, key: str, ok, what: str) -> None:
    if not isinstance(value, dict) or not all(ok(v) for v in value.values()):
        raise ValueError(f"key {key!r} must map agents to {what}")


def _check_actions(actions: Any, kind: str) -> None:
    """Every entry: ``{agent: action}`` (parallel) or ``[agent, action or None]`` (AEC)."""
    if not isinstance(actions, list):
        raise ValueError("key 'actions' must be a list")
    for t, entry in enumerate(actions):
        key = f"actions[{t}]"
        if kind == "parallel":
            if not isinstance(entry, dict):
                raise ValueError(f"{key} must be an object agent -> action, got {entry!r:.100}")
            for agent, action in entry.items():
                _check_action(action, f"{key}.{agent}")
        else:
            if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
                raise ValueError(f"{key} must be an [agent, action] pair, got {entry!r:.100}")
            if entry[1] is not None:
                _check_action(entry[1], f"{key}[1]")


def _check_action(action: Any, key: str) -> None:
    """An action is a number, a nested list of numbers, or a stored array."""
    if isinstance(action, dict):
        _array(action, key)
        return
    if isinstance(action, list):
        for i, part in enumerate(action):
            _check_action(part, f"{key}[{i}]")
        return
    if not isinstance(action, int | float):
        raise ValueError(
            f"{key} must be a number, a list of numbers or an array, got {action!r:.100}"
        )


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
