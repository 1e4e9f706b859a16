"""Observation encoding shared by training (the RLlib env adapter) and inference (policies).

A network takes float vectors or images; games observe Discrete indices, dicts, tuples, grids
and ``{"observation", "action_mask"}`` pairs. :class:`ObservationCodec` maps one agent's raw
observation space to what an RLlib default module accepts:

- ``Discrete(n)`` -> one-hot of length n; ``MultiDiscrete`` -> concatenated one-hots;
  ``MultiBinary`` and non-grid ``Box`` -> flattened float32; ``Dict``/``Tuple`` -> the
  concatenation of their parts, flattened;
- a channels-first grid ``Box`` of shape (C, H, W) (fewest entries along the first axis) ->
  float32 (H, W, C), the layout RLlib's CNN encoder expects;
- a ``{"observation", "action_mask"}`` dict -> one float32 vector, the encoded observation
  followed by the mask (its last ``mask_size`` entries), or, for grids, ``{"observations":
  <grid>, "action_mask": <mask>}``; the masked modules in :mod:`metagame.agents.rllib.modules`
  split the mask off and give illegal actions zero probability. A flat vector keeps RLlib's
  episode and connector bookkeeping as cheap as for an unmasked Box. An all-zero mask, seen
  only at terminal observations, is encoded as all ones so that no distribution is degenerate.

Spaces also round-trip through JSON (:func:`space_to_json`, :func:`space_from_json`) so that a
policy checkpoint records its spaces without pickling. Nothing here imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from metagame.envs.masking import MASK_KEY, OBS_KEY, is_masked

ENCODED_OBS_KEY = "observations"


def is_grid(space: gym.Space) -> bool:
    """True for a channels-first image-like Box (C, H, W) with C the smallest axis."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 3:
        return False
    c, h, w = space.shape
    return c < h and c < w


def _flat_size(space: gym.Space) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(np.sum(space.nvec))
    if isinstance(space, gym.spaces.MultiBinary | gym.spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        parts = space.spaces.values() if isinstance(space, gym.spaces.Dict) else space.spaces
        return sum(_flat_size(s) for s in parts)
    raise ValueError(f"cannot encode observation space {space} for a network")


def _flattener(space: gym.Space) -> Callable[[Any, np.ndarray], None]:
    """Returns fill(obs, out) writing the flat encoding of ``obs`` into ``out``."""
    if isinstance(space, gym.spaces.Discrete):
        start = int(space.start)

        def fill(obs, out):
            out[:] = 0.0
            out[int(obs) - start] = 1.0

        return fill
    if isinstance(space, gym.spaces.MultiDiscrete):
        offsets = np.concatenate([[0], np.cumsum(space.nvec.ravel())[:-1]]).astype(np.int64)
        start = np.asarray(getattr(space, "start", 0)).ravel()

        def fill(obs, out):
            out[:] = 0.0
            out[offsets + np.asarray(obs).ravel().astype(np.int64) - start] = 1.0

        return fill
    if isinstance(space, gym.spaces.MultiBinary | gym.spaces.Box):

        def fill(obs, out):
            out[:] = np.asarray(obs).ravel()

        return fill
    if isinstance(space, gym.spaces.Dict | gym.spaces.Tuple):
        keys = list(space.spaces) if isinstance(space, gym.spaces.Dict) else range(len(space))
        parts = [(k, _flattener(space[k]), _flat_size(space[k])) for k in keys]

        def fill(obs, out):
            i = 0
            for key, sub, size in parts:
                sub(obs[key], out[i : i + size])
                i += size

        return fill
    raise ValueError(f"cannot encode observation space {space} for a network")


class ObservationCodec:
    """Encodes one agent's raw observations for an RLlib default module.

    ``space`` is the encoded space (a Box, or a Dict of ``observations`` and ``action_mask``
    when the raw space carries a mask); ``encode(obs)`` maps one raw observation into it and
    ``encode_batch`` a sequence of them.
    """

    def __init__(self, raw_space: gym.Space):
        self.raw_space = raw_space
        self.masked = is_masked(raw_space)
        inner = raw_space[OBS_KEY] if self.masked else raw_space
        self.grid = is_grid(inner)
        if self.grid:
            c, h, w = inner.shape
            self.shape: tuple[int, ...] = (h, w, c)
            features = gym.spaces.Box(-np.inf, np.inf, self.shape, np.float32)
        else:
            self.shape = (_flat_size(inner),)
            features = gym.spaces.Box(-np.inf, np.inf, self.shape, np.float32)
            self._fill = _flattener(inner)
        self.mask_size = int(np.prod(raw_space[MASK_KEY].shape)) if self.masked else 0
        self.space: gym.Space = features
        if self.masked and self.grid:
            mask = gym.spaces.Box(0.0, 1.0, (self.mask_size,), np.float32)
            self.space = gym.spaces.Dict({ENCODED_OBS_KEY: features, MASK_KEY: mask})
        elif self.masked:
            size = self.shape[0] + self.mask_size
            low = np.concatenate([np.full(self.shape, -np.inf), np.zeros(self.mask_size)])
            high = np.concatenate([np.full(self.shape, np.inf), np.ones(self.mask_size)])
            self.space = gym.spaces.Box(low.astype(np.float32), high.astype(np.float32), (size,))

    def features(self, obs: Any) -> np.ndarray:
        """The float32 feature array of an observation (without its mask)."""
        if self.grid:
            return np.ascontiguousarray(np.moveaxis(np.asarray(obs, np.float32), 0, -1))
        out = np.empty(self.shape, np.float32)
        self._fill(obs, out)
        return out

    def encode(self, obs: Any) -> Any:
        """Encodes one raw observation (a mask dict when the raw space has a mask)."""
        if self.masked:
            mask = np.asarray(obs[MASK_KEY], np.float32).ravel()
            if not mask.any():  # a terminal observation: keep every distribution well defined
                mask = np.ones_like(mask)
            if self.grid:
                return {ENCODED_OBS_KEY: self.features(obs[OBS_KEY]), MASK_KEY: mask}
            return np.concatenate([self.features(obs[OBS_KEY]), mask])
        return self.features(obs)

    def encode_batch(self, observations: Any, masks: np.ndarray | None = None) -> Any:
        """Encodes raw observations (without their masks) and masks (all legal if None) into
        one stacked array, or a dict of stacked arrays."""
        if self.masked:
            if masks is None:
                masks = np.ones((len(observations), self.mask_size), np.float32)
            observations = [{OBS_KEY: o, MASK_KEY: m} for o, m in zip(observations, masks)]
        encoded = [self.encode(o) for o in observations]
        if isinstance(encoded[0], dict):
            return {k: np.stack([e[k] for e in encoded]) for k in encoded[0]}
        return np.stack(encoded)


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """A JSON description of a gymnasium space (Box, Discrete, MultiDiscrete, MultiBinary,
    Dict, Tuple)."""
    if isinstance(space, gym.spaces.Box):
        return {
            "type": "Box",
            "low": space.low.tolist(),
            "high": space.high.tolist(),
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "dtype": str(space.dtype)}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(s) for k, s in space.spaces.items()}}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s) for s in space.spaces]}
    raise ValueError(f"cannot describe space {space} in JSON")


def space_from_json(data: Any, key: str = "space") -> gym.Space:
    """Inverse of :func:`space_to_json`.

    A malformed description raises ValueError naming ``key`` (the description's place, e.g.
    ``"action_space"``; nested parts as ``action_space.spaces.x``): an unknown type, a count
    that is not a positive integer, a shape that is not non-negative integers, a dtype that is
    not numeric, or bounds whose shape differs from the declared one. Bounds are read at their
    full shape, so a description never allocates more than it spells out.
    """
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError(f"{key}: a space description needs a 'type', got {data!r:.200}")
    kind = data["type"]
    builders = {
        "Box": _box_from_json,
        "Discrete": _discrete_from_json,
        "MultiDiscrete": _multi_discrete_from_json,
        "MultiBinary": _multi_binary_from_json,
        "Dict": _dict_from_json,
        "Tuple": _tuple_from_json,
    }
    if kind not in builders:
        raise ValueError(f"{key}: unknown space type {kind!r} (known: {', '.join(builders)})")
    try:
        return builders[kind](data, key)
    except KeyError as err:
        raise ValueError(f"{key}: {kind} description lacks {err}") from None


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer, got {value!r:.200}")
    return value


def _dtype(value: Any, key: str, kinds: str) -> np.dtype:
    try:
        dtype = np.dtype(str(value))
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in kinds:
        raise ValueError(f"{key} must be a numeric dtype name, got {value!r:.200}")
    return dtype


def _array(value: Any, dtype: np.dtype, key: str) -> np.ndarray:
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError, OverflowError) as err:
        raise ValueError(f"{key} must be a (nested) list of {dtype} numbers: {err}") from None


def _box_from_json(data: dict[str, Any], key: str) -> gym.Space:
    shape = data["shape"]
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(f"{key}.shape must be a list of non-negative integers, got {shape!r:.200}")
    dtype = _dtype(data["dtype"], f"{key}.dtype", "biuf")
    low = _array(data["low"], dtype, f"{key}.low")
    high = _array(data["high"], dtype, f"{key}.high")
    for name, bound in (("low", low), ("high", high)):
        if bound.shape != tuple(shape):
            raise ValueError(f"{key}.{name} has shape {bound.shape}, declared shape {tuple(shape)}")
    if np.any(low > high):
        raise ValueError(f"{key}: low exceeds high")
    return gym.spaces.Box(low, high, tuple(shape), dtype)


def _discrete_from_json(data: dict[str, Any], key: str) -> gym.Space:
    start = data.get("start", 0)
    if isinstance(start, bool) or not isinstance(start, int):
        raise ValueError(f"{key}.start must be an integer, got {start!r:.200}")
    return gym.spaces.Discrete(_count(data["n"], f"{key}.n"), start=start)


def _multi_discrete_from_json(data: dict[str, Any], key: str) -> gym.Space:
    dtype = _dtype(data["dtype"], f"{key}.dtype", "iu")
    nvec = _array(data["nvec"], dtype, f"{key}.nvec")
    if nvec.size == 0 or np.any(nvec < 1):
        raise ValueError(f"{key}.nvec must hold positive counts, got {data['nvec']!r:.200}")
    return gym.spaces.MultiDiscrete(nvec, dtype=dtype)


def _multi_binary_from_json(data: dict[str, Any], key: str) -> gym.Space:
    n = data["n"]
    counts = n if isinstance(n, list) and n else [n]
    for c in counts:
        _count(c, f"{key}.n")
    return gym.spaces.MultiBinary(n)


def _dict_from_json(data: dict[str, Any], key: str) -> gym.Space:
    spaces = data["spaces"]
    if not isinstance(spaces, dict):
        raise ValueError(f"{key}.spaces must be an object of space descriptions")
    return gym.spaces.Dict({k: space_from_json(s, f"{key}.spaces.{k}") for k, s in spaces.items()})


def _tuple_from_json(data: dict[str, Any], key: str) -> gym.Space:
    spaces = data["spaces"]
    if not isinstance(spaces, list):
        raise ValueError(f"{key}.spaces must be a list of space descriptions")
    return gym.spaces.Tuple(
        [space_from_json(s, f"{key}.spaces[{i}]") for i, s in enumerate(spaces)]
    )
