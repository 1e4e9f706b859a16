"""One interface for everything that acts, and policy checkpoints.

A :class:`Policy` maps an observation (and, where actions can be illegal, an action mask) to an
action: ``act(observation, action_mask=None)`` and ``act_batch(observations, action_masks=None)``,
plus an ``id``. Implementations here:

- :class:`RandomPolicy`: uniform over the legal actions (or over a Box);
- :class:`MixedStrategyPolicy`: a fixed distribution over actions, e.g. a Nash strategy from
  :mod:`metagame.solvers`;
- :class:`TabularPolicy`: a distribution per state id, e.g. a Markov-game equilibrium from
  Shapley's value iteration (Shapley 1953) or minimax-Q (Littman 1994);
- :class:`RLModulePolicy`: an RLlib RLModule run for inference without an Algorithm;
- ``CausalLMPolicy`` (:mod:`metagame.envs.preference.lm`): a ``transformers`` causal LM that
  writes answers in the LLM duel.

Discrete policies put zero probability on illegal actions: their distribution is multiplied by
the mask and renormalized (uniform over the legal actions if nothing legal is left).

An observation in the ``{"observation", "action_mask"}`` convention may be passed whole; the mask
is then taken from it. Policies are seeded; ``reset(seed)`` reseeds them (``play`` reseeds every
policy at the start of each episode, so episodes are reproducible in any order).

Checkpoints (:func:`save_policy`, :func:`load_policy`) are a directory holding ``policy.json``
(kind, id, spaces, parameters) and, for RLModules, ``weights.pt`` (a tensor state dict, loaded
with ``torch.load(weights_only=True)``). Nothing is ever unpickled, and a checkpoint names its
module class by a stable name that :mod:`metagame.agents.module_classes` resolves: loading
imports no module and follows no attribute that a file names. Every malformed field raises
ValueError naming the file and the key.
"""

from __future__ import annotations

import importlib
import json
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from metagame.agents.module_classes import MODULE_CLASSES, lookup, stable_name
from metagame.agents.rllib.encoding import ObservationCodec, space_from_json, space_to_json
from metagame.envs.masking import MASK_KEY, OBS_KEY
from metagame.envs.preference.lm import CausalLMPolicy

# 2: module classes by stable name; 1: by "module:qualname" (still read, for allowed classes)
CHECKPOINT_VERSION = 2
METADATA_FILE = "policy.json"
WEIGHTS_FILE = "weights.pt"


@runtime_checkable
class Policy(Protocol):
    """Anything that acts: ``act`` for one observation, ``act_batch`` for many."""

    id: str

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any: ...

    def act_batch(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray: ...


def split_observation(observation: Any, action_mask: Any = None) -> tuple[Any, Any]:
    """Splits an ``{"observation", "action_mask"}`` dict; other observations pass through."""
    if isinstance(observation, dict) and MASK_KEY in observation and OBS_KEY in observation:
        if action_mask is None:
            action_mask = observation[MASK_KEY]
        observation = observation[OBS_KEY]
    return observation, action_mask


def legal_distribution(probs: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Restricts distributions (rows of ``probs``) to legal actions and renormalizes.

    A row with no probability left on its legal actions becomes uniform over them; a mask with
    no legal action raises ValueError.
    """
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    if mask is None:
        return probs / probs.sum(axis=1, keepdims=True)
    mask = np.atleast_2d(np.asarray(mask)).astype(bool)
    if mask.shape[-1] != probs.shape[-1]:
        raise ValueError(
            f"action mask has {mask.shape[-1]} entries but the policy has {probs.shape[-1]} actions"
        )
    legal_count = mask.sum(axis=1, keepdims=True)
    if np.any(legal_count == 0):
        raise ValueError("action mask allows no action")
    probs = np.where(mask, probs, 0.0)
    total = probs.sum(axis=1, keepdims=True)
    uniform = mask / legal_count
    return np.where(total > 0, probs / np.where(total > 0, total, 1.0), uniform)


def softmax_distribution(out: dict[str, Any], masks: np.ndarray | None) -> np.ndarray:
    """``(N, A)``: the masked softmax of a module's ``action_dist_inputs`` (its logits)."""
    logits = out["action_dist_inputs"].double().numpy()
    return legal_distribution(np.exp(logits - logits.max(axis=1, keepdims=True)), masks)


def choose(probs: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """One action per row of ``probs``: sampled with ``rng``, or the argmax when rng is None."""
    if rng is None:
        return probs.argmax(axis=1)
    cumulative = probs.cumsum(axis=1)
    draws = rng.random((len(probs), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative <= draws).sum(axis=1), probs.shape[1] - 1)


def _stack_masks(masks: Sequence[Any] | None) -> np.ndarray | None:
    if masks is None or all(m is None for m in masks):
        return None
    if any(m is None for m in masks):
        raise ValueError("action_masks must be given for all observations or none")
    return np.stack([np.asarray(m).ravel() for m in masks])


def _split_batch(observations: Sequence[Any], action_masks: Sequence[Any] | None):
    masks = list(action_masks) if action_masks is not None else [None] * len(observations)
    if len(masks) != len(observations):
        raise ValueError(f"got {len(observations)} observations but {len(masks)} action masks")
    pairs = [split_observation(o, m) for o, m in zip(observations, masks)]
    return [p[0] for p in pairs], _stack_masks([p[1] for p in pairs])


class _SeededPolicy:
    """Base for policies that sample from their own generator, seeded by ``seed``."""

    id: str

    def __init__(self, seed: int | None, greedy: bool = False):
        self.seed = seed
        self.greedy = greedy
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Reseeds the policy's sampling."""
        self.rng = np.random.default_rng(self.seed if seed is None else seed)


class _DiscretePolicy(_SeededPolicy):
    """Base for policies over ``Discrete(n)``: subclasses give ``distributions(observations)``."""

    def distributions(self, observations: list[Any], masks: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError

    def action_distributions(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """``(N, A)``: the distributions this policy samples from at the observations."""
        observations, masks = _split_batch(observations, action_masks)
        return legal_distribution(self.distributions(observations, masks), masks)

    def probabilities(self, observation: Any, action_mask: np.ndarray | None = None) -> np.ndarray:
        """The action distribution this policy samples from at one observation."""
        return self.action_distributions(
            [observation], None if action_mask is None else [action_mask]
        )[0]

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        return int(self.act_batch([observation], None if action_mask is None else [action_mask])[0])

    def act_batch(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        probs = self.action_distributions(observations, action_masks)
        return choose(probs, None if self.greedy else self.rng)


class RandomPolicy(_SeededPolicy):
    """Uniform over an action space: over the legal actions of a discrete one, or over a box.

    ``action_space`` is an int (number of actions), a ``Discrete`` or ``Box`` space, or None
    (the number of actions is then read off each action mask). Over a ``Box`` it samples
    uniformly between finite bounds (a standard normal along unbounded dimensions); only a
    discrete space has ``probabilities``.
    """

    def __init__(
        self, action_space: int | gym.Space | None = None, seed: int | None = 0, id: str = "random"
    ):
        super().__init__(seed)
        self.id = id
        self.box: gym.spaces.Box | None = None
        self.n: int | None = None
        if isinstance(action_space, gym.spaces.Box):
            self.box = action_space
        elif isinstance(action_space, gym.spaces.Discrete):
            self.n = int(action_space.n)
        elif isinstance(action_space, int | np.integer) and not isinstance(action_space, bool):
            if not 1 <= action_space < 2**63:
                raise ValueError(
                    f"RandomPolicy needs 1 to 2**63 - 1 actions, got {action_space!r:.40}"
                )
            self.n = int(action_space)
        elif action_space is not None:
            raise ValueError(
                f"RandomPolicy takes an int, Discrete or Box action space, got {action_space!r}"
            )

    def _uniform(self, count: int, masks: np.ndarray | None) -> np.ndarray:
        """``count`` uniform distributions over the legal discrete actions."""
        if self.box is not None:
            raise ValueError("RandomPolicy over a Box has no action probabilities")
        n = self.n if self.n is not None else (None if masks is None else masks.shape[1])
        if n is None:
            raise ValueError("RandomPolicy without an action space needs an action mask")
        return legal_distribution(np.ones((count, n)), masks)

    def probabilities(self, observation: Any, action_mask: np.ndarray | None = None) -> np.ndarray:
        """The uniform distribution over the legal actions at one observation."""
        _, action_mask = split_observation(observation, action_mask)
        masks = None if action_mask is None else np.reshape(action_mask, (1, -1))
        return self._uniform(1, masks)[0]

    def _box_sample(self, count: int) -> np.ndarray:
        low, high = self.box.low, self.box.high
        shape = (count, *self.box.shape)
        finite = np.isfinite(low) & np.isfinite(high)
        uniform = self.rng.uniform(np.where(finite, low, 0.0), np.where(finite, high, 1.0), shape)
        normal = self.rng.standard_normal(shape)
        return np.where(finite, uniform, normal).astype(self.box.dtype)

    def act_batch(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        if self.box is not None:
            return self._box_sample(len(observations))
        observations, masks = _split_batch(observations, action_masks)
        return choose(self._uniform(len(observations), masks), self.rng)

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any:
        if self.box is not None:
            return self._box_sample(1)[0]
        return int(self.act_batch([observation], None if action_mask is None else [action_mask])[0])

    kind = "random"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        return {"action_space": space_to_json(self.box) if self.box is not None else self.n}

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        space = _field(meta, meta_file, "action_space", int | dict | None)
        with _key(meta_file, "action_space"):
            space = space_from_json(space, "action_space") if isinstance(space, dict) else space
            return cls(space, seed=seed, id=id)


class MixedStrategyPolicy(_DiscretePolicy):
    """Plays a fixed mixed strategy (a probability vector over actions) at every observation."""

    def __init__(self, strategy: Sequence[float], seed: int | None = 0, id: str = "mixed"):
        super().__init__(seed)
        self.strategy = _as_distribution(strategy, "strategy")
        self.id = id

    def distributions(self, observations: list[Any], masks: np.ndarray | None) -> np.ndarray:
        return np.broadcast_to(self.strategy, (len(observations), len(self.strategy)))

    kind = "mixed"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        return {"strategy": self.strategy.tolist()}

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        strategy = _field(meta, meta_file, "strategy", list)
        with _key(meta_file, "strategy"):
            return cls(strategy, seed=seed, id=id)


class TabularPolicy(_DiscretePolicy):
    """A distribution over actions per state: ``strategy[s]`` at state id ``s``.

    ``state_index`` maps an observation to its state id (e.g. the mapping a Markov game's
    ``tabular()`` export provides); by default the observation is the state id itself (an int,
    or a one-hot vector). ``greedy=True`` plays each state's most probable action.
    """

    def __init__(
        self,
        strategy: np.ndarray,
        state_index: Callable[[Any], int] | None = None,
        seed: int | None = 0,
        greedy: bool = False,
        id: str = "tabular",
    ):
        super().__init__(seed, greedy)
        strategy = np.asarray(strategy, dtype=np.float64)
        if strategy.ndim != 2:
            raise ValueError(f"strategy must be (states, actions), got shape {strategy.shape}")
        self.strategy = np.stack(
            [_as_distribution(row, f"strategy[{s}]") for s, row in enumerate(strategy)]
        )
        self.state_index = state_index
        self.id = id

    def state(self, observation: Any) -> int:
        if self.state_index is not None:
            s = int(self.state_index(observation))
        else:
            arr = np.asarray(observation)
            s = int(arr.argmax()) if arr.ndim == 1 and arr.size == len(self.strategy) else int(arr)
        if not 0 <= s < len(self.strategy):
            raise ValueError(f"state id {s} outside the strategy's {len(self.strategy)} states")
        return s

    def distributions(self, observations: list[Any], masks: np.ndarray | None) -> np.ndarray:
        return self.strategy[[self.state(o) for o in observations]]

    kind = "tabular"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        if self.state_index is not None:
            raise ValueError("cannot save a TabularPolicy with a custom state_index function")
        return {"greedy": self.greedy, "strategy": self.strategy.tolist()}

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        strategy = _field(meta, meta_file, "strategy", list)
        saved_greedy = _field(meta, meta_file, "greedy", bool)
        greedy = saved_greedy if greedy is None else greedy
        with _key(meta_file, "strategy"):
            return cls(np.asarray(strategy), seed=seed, greedy=greedy, id=id)


def _as_distribution(values: Sequence[float], name: str) -> np.ndarray:
    p = np.asarray(values, dtype=np.float64).ravel()
    if p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be a non-empty vector of finite non-negative numbers")
    if not np.isclose(p.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{name} must sum to 1, sums to {p.sum():.6g}")
    return p / p.sum()


class RLModulePolicy:
    """Runs an RLlib RLModule for inference, outside any Algorithm.

    ``observation_space`` is the agent's raw observation space in the environment; observations
    are encoded exactly as in training (:class:`metagame.agents.rllib.encoding.ObservationCodec`).
    ``greedy=True`` plays the distribution's mode (argmax, or the mean of a Gaussian); otherwise
    it samples, seeded. Box actions are mapped from the module's [-1, 1] range to the space's
    bounds, as RLlib's env runners do with ``normalize_actions=True``.
    """

    def __init__(
        self,
        module: Any,
        observation_space: gym.Space,
        action_space: gym.Space | None = None,
        greedy: bool = True,
        seed: int | None = 0,
        id: str = "rl_module",
    ):
        self.module = module
        self.codec = ObservationCodec(observation_space)
        self.action_space = action_space if action_space is not None else module.action_space
        self.greedy = greedy
        self.seed = seed
        self.id = id
        self.rng = np.random.default_rng(seed)
        self._dist_cls = (
            module.get_inference_action_dist_cls()
            if greedy
            else (module.get_exploration_action_dist_cls())
        )

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)

    def _batch(self, observations: list[Any], masks: np.ndarray | None):
        import torch

        encoded = self.codec.encode_batch(observations, masks)
        if isinstance(encoded, dict):
            return {"obs": {k: torch.from_numpy(v) for k, v in encoded.items()}}
        return {"obs": torch.from_numpy(encoded)}

    def _forward(self, observations: Sequence[Any], action_masks: Sequence[Any] | None):
        """The module's inference outputs on a batch, and the batch's masks."""
        import torch

        observations, masks = _split_batch(observations, action_masks)
        with torch.no_grad():
            return self.module.forward_inference(self._batch(observations, masks)), masks

    def action_distributions(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """``(N, A)``: the distributions of a module over a Discrete action space (its masked
        softmax) at the observations, from one forward pass."""
        out, masks = self._forward(observations, action_masks)
        if "action_dist_inputs" not in out or not isinstance(
            self.action_space, gym.spaces.Discrete
        ):
            raise ValueError(f"{self.id}: distributions need a Discrete policy with logits")
        return softmax_distribution(out, masks)

    def act_batch(
        self, observations: Sequence[Any], action_masks: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        import torch

        out, masks = self._forward(observations, action_masks)
        if "action_dist_inputs" not in out:  # value-based modules (DQN) return greedy actions
            return out["actions"].numpy()
        inputs = out["action_dist_inputs"]
        if isinstance(self.action_space, gym.spaces.Discrete):
            probs = softmax_distribution(out, masks)
            return choose(probs, None if self.greedy else self.rng)
        dist = self._dist_cls.from_logits(inputs)
        if self.greedy:
            actions = dist.to_deterministic().sample()
        else:
            with torch.random.fork_rng():
                torch.manual_seed(int(self.rng.integers(2**31)))
                actions = dist.sample()
        return _unsquash(actions.numpy(), self.action_space)

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> Any:
        action = self.act_batch([observation], None if action_mask is None else [action_mask])[0]
        return int(action) if isinstance(self.action_space, gym.spaces.Discrete) else action

    kind = "rl_module"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        return {"greedy": self.greedy, **_save_module(self.module, path, self.codec.raw_space)}

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        saved_greedy = _field(meta, meta_file, "greedy", bool)
        module, raw_space = _load_module(meta_file, meta)
        greedy = saved_greedy if greedy is None else greedy
        return cls(module, raw_space, module.action_space, greedy=greedy, seed=seed, id=id)


def _unsquash(actions: np.ndarray, space: gym.Space) -> np.ndarray:
    if not isinstance(space, gym.spaces.Box):
        return actions
    if np.all(space.bounded_below) and np.all(space.bounded_above):
        actions = space.low + (actions + 1.0) * (space.high - space.low) / 2.0
    return np.clip(actions, space.low, space.high).astype(space.dtype)


# --- checkpoints -------------------------------------------------------------------------------

# What each checkpoint kind loads as: a class, or "module:class" for one whose module would
# import this one (resolved when a policy of that kind is saved or loaded). Each class names its
# ``kind``, writes its fields in ``_checkpoint(path)`` and reads them back in
# ``_from_checkpoint(meta, meta_file, seed, greedy, id)``.
POLICY_KINDS: dict[str, Any] = {
    **{
        cls.kind: cls
        for cls in (
            RandomPolicy,
            MixedStrategyPolicy,
            TabularPolicy,
            RLModulePolicy,
            CausalLMPolicy,
        )
    },
    "follower": "metagame.agents.follow.follower:FollowerPolicy",  # a Learn-to-Follow MAPF team
    "traffic_driver": "metagame.agents.traffic_drivers.learned_driver:LearnedDriverPolicy",
}


def _policy_class(kind: str) -> type:
    """The class checkpoints of ``kind`` (a key of ``POLICY_KINDS``) load as."""
    cls = POLICY_KINDS[kind]
    if isinstance(cls, str):
        module, _, name = cls.partition(":")
        cls = getattr(importlib.import_module(module), name)
    return cls


def save_policy(policy: Any, path: str | Path, observation_space: gym.Space | None = None) -> Path:
    """Saves a policy (or a bare RLModule) as a checkpoint directory; returns its path.

    A bare RLModule built by :func:`metagame.agents.rllib.module_spec` records its raw
    observation space itself; for any other module pass ``observation_space``.
    """
    path = Path(path)
    kind = getattr(policy, "kind", None)
    if isinstance(kind, str) and kind in POLICY_KINDS and isinstance(policy, _policy_class(kind)):
        fields = policy._checkpoint(path)
        return _write(path, {"kind": kind, "id": policy.id, "seed": policy.seed, **fields})
    if hasattr(policy, "forward_inference") and hasattr(policy, "state_dict"):
        fields = _save_module(policy, path, observation_space or _raw_space(policy))
        return _write(path, {"kind": "rl_module", "id": "rl_module", "seed": 0, "greedy": True,
                             **fields})  # fmt: skip
    raise ValueError(f"cannot save a {type(policy).__name__} as a policy checkpoint")


def _raw_space(module: Any) -> gym.Space:
    raw = (module.model_config or {}).get("metagame_observation_space")
    if raw is None:
        raise ValueError(
            "this RLModule does not record its raw observation space; pass observation_space"
        )
    return space_from_json(raw)


def _save_module(module, path: Path, raw_space) -> dict[str, Any]:
    """Writes a module's weights into ``path``; returns the metadata that rebuilds it."""
    import torch

    cls = type(module)
    name = stable_name(cls)
    if name is None:
        raise ValueError(
            f"cannot save a {cls.__module__}:{cls.__qualname__} module; checkpointable classes: "
            f"{', '.join(MODULE_CLASSES)}"
        )
    config = module.model_config or {}
    try:
        json.dumps(config)
    except TypeError as err:
        raise ValueError(f"the module's model_config is not JSON-serializable: {err}") from None
    meta = {
        "module_class": name,
        "inference_only": bool(module.inference_only),
        "model_config": config,
        "module_observation_space": space_to_json(module.observation_space),
        "action_space": space_to_json(module.action_space),
        "observation_space": space_to_json(raw_space),
    }
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    tmp = path / (WEIGHTS_FILE + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path / WEIGHTS_FILE)
    return meta


def _write(path: Path, meta: dict[str, Any]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    meta = {"version": CHECKPOINT_VERSION, **meta}
    tmp = path / (METADATA_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(path / METADATA_FILE)
    return path


def load_policy(path: str | Path, greedy: bool | None = None, seed: int | None = None) -> Policy:
    """Loads a checkpoint written by :func:`save_policy`.

    ``greedy`` and ``seed`` override the saved values. A missing, corrupt or malformed
    checkpoint raises ValueError naming the file and the key; nothing is unpickled and nothing
    the checkpoint names is imported.
    """
    meta_file = Path(path) / METADATA_FILE
    meta = _read_metadata(meta_file)
    kind = _field(meta, meta_file, "kind", str)
    policy_id = _field(meta, meta_file, "id", str)
    saved_seed = _field(meta, meta_file, "seed", int | None, default=0)
    if saved_seed is not None and saved_seed < 0:
        raise ValueError(f"policy checkpoint {meta_file}: key 'seed' is negative: {saved_seed}")
    seed = saved_seed if seed is None else seed
    if kind not in POLICY_KINDS:
        raise ValueError(
            f"policy checkpoint {meta_file}: key 'kind' has unknown value {kind!r:.100}"
        )
    return _policy_class(kind)._from_checkpoint(meta, meta_file, seed, greedy, policy_id)


def _read_metadata(meta_file: Path) -> dict[str, Any]:
    if not meta_file.is_file():
        raise ValueError(f"policy checkpoint not found: {meta_file}")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"policy checkpoint {meta_file} is corrupt: {err}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"policy checkpoint {meta_file} is corrupt: not a JSON object")
    version = meta.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"policy checkpoint {meta_file}: key 'version' must be an integer")
    if not 1 <= version <= CHECKPOINT_VERSION:
        raise ValueError(
            f"policy checkpoint {meta_file}: key 'version' is {version}; this metagame reads "
            f"versions 1 to {CHECKPOINT_VERSION}"
        )
    return meta


_MISSING = object()


def _field(meta: dict[str, Any], meta_file: Path, key: str, kind: Any, default: Any = _MISSING):
    """``meta[key]``, checked against a type (a bool only where ``kind`` is bool); ValueError
    names the file and the key."""
    value = meta.get(key, default)
    if value is _MISSING:
        raise ValueError(f"policy checkpoint {meta_file} is corrupt: key {key!r} is missing")
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(
            f"policy checkpoint {meta_file}: key {key!r} has a value of the wrong type: "
            f"{value!r:.100}"
        )
    return value


@contextmanager
def _key(meta_file: Path, key: str) -> Iterator[None]:
    """Re-raises a ValueError or TypeError about one key's value with the file and key."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise ValueError(f"policy checkpoint {meta_file}: key {key!r}: {err}") from None


def _module_class(meta_file: Path, meta: dict[str, Any]):
    value = _field(meta, meta_file, "module_class", str)
    entry = lookup(value)
    if entry is None:
        raise ValueError(
            f"policy checkpoint {meta_file}: key 'module_class' names {value!r:.200}, which is "
            f"not a checkpointable module class (allowed: {', '.join(MODULE_CLASSES)})"
        )
    return entry[1]


def _load_module(meta_file: Path, meta: dict[str, Any]):
    """Builds the module a checkpoint describes and loads its weights; returns it and the raw
    observation space."""
    entry = _module_class(meta_file, meta)
    spaces = {}
    for key in ("module_observation_space", "action_space", "observation_space"):
        with _key(meta_file, key):
            spaces[key] = space_from_json(_field(meta, meta_file, key, dict), key)
    with _key(meta_file, "observation_space"):
        codec = ObservationCodec(spaces["observation_space"])
    if _shapes(codec.space) != _shapes(spaces["module_observation_space"]):
        raise ValueError(
            f"policy checkpoint {meta_file}: key 'observation_space' encodes to {codec.space}, "
            f"but key 'module_observation_space' is {spaces['module_observation_space']}"
        )
    actions = spaces["action_space"]
    if codec.masked and (
        not isinstance(actions, gym.spaces.Discrete) or actions.n != codec.mask_size
    ):
        raise ValueError(
            f"policy checkpoint {meta_file}: key 'action_space' is {actions}, but key "
            f"'observation_space' masks {codec.mask_size} actions"
        )
    config = _field(meta, meta_file, "model_config", dict)
    config = {k: v for k, v in config.items() if k not in entry.file_keys}
    inference_only = _field(meta, meta_file, "inference_only", bool)
    weights = meta_file.parent / WEIGHTS_FILE
    if not weights.is_file():
        raise ValueError(f"policy checkpoint weights not found: {weights}")
    cls = entry.load()

    from metagame.agents.rllib.quiet import quiet_notices

    quiet_notices()  # RLlib's RLModule.__init__ logs a deprecation notice for every module
    try:
        module = cls(
            observation_space=spaces["module_observation_space"],
            action_space=spaces["action_space"],
            inference_only=inference_only,
            model_config=config,
        )
    except Exception as err:  # the module's own checks of a file-given config and spaces
        raise ValueError(
            f"policy checkpoint {meta_file}: keys 'model_config' and the spaces do not build a "
            f"{cls.__name__}: {type(err).__name__}: {err}"
        ) from err
    state = read_state_dict(weights, "policy checkpoint weights")
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError) as err:
        raise ValueError(
            f"policy checkpoint weights {weights} do not fit the module that {meta_file} "
            f"describes (keys 'action_space', 'module_observation_space', 'model_config'): "
            + " ".join(str(err).split())
        ) from None
    module.eval()
    return module, spaces["observation_space"]


def _shapes(space: gym.Space) -> Any:
    """The array shapes a space holds (nested for Dict), to compare encodings."""
    if isinstance(space, gym.spaces.Dict):
        return {k: _shapes(s) for k, s in space.spaces.items()}
    return space.shape


def read_state_dict(weights: Path, what: str) -> dict[str, Any]:
    """The tensor state dict saved at ``weights`` (read without running any pickled code);
    ValueError naming ``what`` and the file when it is corrupt or holds something else."""
    import torch

    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError, ValueError) as err:
        raise ValueError(f"{what} {weights} are corrupt: {err}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{what} {weights} are not a tensor state dict")
    return state


def load_weights(weights: Path, what: str, load: Callable[[dict[str, Any]], Any]) -> None:
    """Reads ``weights`` (:func:`read_state_dict`) and hands them to ``load`` (e.g. a network's
    ``load_state_dict``); ValueError naming the file when they do not fit."""
    state = read_state_dict(weights, what)
    try:
        load(state)
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"{what} {weights} do not fit: {' '.join(str(err).split())}") from None
