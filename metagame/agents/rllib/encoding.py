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

MASK_KEY = "action_mask"
OBS_KEY = "observation"
ENCODED_OBS_KEY = "observations"


def is_masked(space: gym.Space) -> bool:
    """True for the ``{"observation", "action_mask"}`` dict convention."""
    return isinstance(space, gym.spaces.Dict) and set(space.spaces) == {OBS_KEY, MASK_KEY}


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


def space_from_json(data: dict[str, Any]) -> gym.Space:
    """Inverse of :func:`space_to_json`; a malformed description raises ValueError."""
    try:
        kind = data["type"]
        if kind == "Box":
            low = np.asarray(data["low"], dtype=data["dtype"])
            high = np.asarray(data["high"], dtype=data["dtype"])
            return gym.spaces.Box(low, high, tuple(data["shape"]), np.dtype(data["dtype"]))
        if kind == "Discrete":
            return gym.spaces.Discrete(int(data["n"]), start=int(data.get("start", 0)))
        if kind == "MultiDiscrete":
            return gym.spaces.MultiDiscrete(np.asarray(data["nvec"]), dtype=data["dtype"])
        if kind == "MultiBinary":
            return gym.spaces.MultiBinary(data["n"])
        if kind == "Dict":
            return gym.spaces.Dict({k: space_from_json(s) for k, s in data["spaces"].items()})
        if kind == "Tuple":
            return gym.spaces.Tuple([space_from_json(s) for s in data["spaces"]])
    except (KeyError, TypeError) as err:
        raise ValueError(f"malformed space description {data!r}: {err}") from None
    raise ValueError(f"unknown space type in description {data!r}")
