"""Learned traffic drivers as a policy for the controlled vehicles of a traffic env.

:class:`LearnedDriverPolicy` runs one shared actor-critic network for every controlled
vehicle of a bound ``TrafficEnv`` (parameter sharing, decentralised execution: each vehicle
acts on what it observes). Two kinds:

- ``features="intent"``: the learned driver, in the spirit of iPLAN (Wu et al., CoRL 2023).
  *Rule-based:* all of the driving. The vehicle is on the env's autopilot
  (``TrafficEnv.set_autopilot``): IDM car following (Treiber et al. 2000), MOBIL lane changes
  (Kesting et al. 2007), reservation-based junction control with gap acceptance, and turns,
  exactly as the background drivers and :class:`~metagame.agents.drivers.IDMPolicy` drive.
  *Learned:* (1) each neighbour's driver type, estimated from its observed speed history by
  :class:`~.intent.IntentNet` (supervised from the env's true types in training); (2) each
  step, which driver style the vehicle drives with, one of ``OPTIONS`` (the IDM/MOBIL
  parameter rows of the cautious, normal and aggressive types, ``drivers.TYPE_PARAMS``: desired
  speed, headway, acceleration, braking, politeness, critical gap), chosen by the policy
  network from its observation and the intent estimates of its neighbour rows. So it learns
  when to yield (cautious: long headway, 6 s critical gap) and when to go (aggressive: 3 s).
  :class:`IDMPolicy` drives with the vehicle's own randomly drawn parameters instead.
- ``features="env"``: independent PPO, the learnable baseline: the env's observation and its
  eight meta-actions (target speed up/down, lane changes, turns), no autopilot.

``play`` binds it after each reset; ``act_batch`` takes the observations of every live agent
in ``env.agents`` order (one policy drives every vehicle) and returns their actions ("keep" for
the intent driver, whose choice is applied to its vehicle's parameters).

Checkpoints (``save_policy`` / ``load_policy``, kind ``"traffic_driver"``) are a
``policy.json`` (features, network sizes) and ``weights.pt`` (tensor state dicts of both nets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from metagame.agents.drivers import drive_with_styles
from metagame.agents.follow.network import FollowerNet
from metagame.agents.policy import (
    WEIGHTS_FILE,
    _field,
    choose,
    load_weights,
    split_observation,
)
from metagame.agents.traffic_drivers.intent import (
    TYPES,
    IntentNet,
    KinematicsHistory,
    nearest_slots,
)
from metagame.envs.traffic.observe import (
    EGO_FEATURES,
    KEEP,
    NEIGHBOUR_FEATURES,
    NUM_ACTIONS,
)

FEATURES = ("intent", "env")
OPTIONS = TYPES  # driver styles the intent driver picks from: TYPE_PARAMS rows 0..2


def input_size(features: str, k: int) -> int:
    """Width of the network's input for ``k`` observed neighbours."""
    obs = k * NEIGHBOUR_FEATURES + EGO_FEATURES
    return obs + k * len(TYPES) if features == "intent" else obs


class LearnedDriverPolicy:
    """A shared driver network for every controlled vehicle of a bound traffic env."""

    kind = "traffic_driver"

    def __init__(
        self,
        net: FollowerNet,
        intent: IntentNet | None,
        features: str = "intent",
        k: int = 5,
        greedy: bool = True,
        seed: int | None = 0,
        id: str = "learned_driver",
    ):
        if features not in FEATURES:
            raise ValueError(f"features must be one of {FEATURES}, got {features!r}")
        if (intent is None) != (features == "env"):
            raise ValueError("the intent driver needs an IntentNet; independent PPO takes none")
        actions = len(OPTIONS) if features == "intent" else NUM_ACTIONS
        if net.shape["num_actions"] != actions or net.shape["channels"] != input_size(features, k):
            raise ValueError(f"LearnedDriverPolicy: network {net.shape} does not fit {features!r}")
        self.net = net.eval()
        self.intent = None if intent is None else intent.eval()
        self.features = features
        self.k = k
        self.greedy = greedy
        self.seed = seed
        self.id = id
        self._env = None
        self.reset(seed)

    def reset(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(self.seed if seed is None else seed)
        self.history = KinematicsHistory()

    def bind(self, env) -> None:
        """The traffic env whose vehicles this policy drives (``play`` calls it after each
        reset): on the autopilot for the intent driver, off it for independent PPO."""
        env = getattr(env, "unwrapped", env)
        if not callable(getattr(env, "set_autopilot", None)) or env.signal_agents:
            raise ValueError(
                f"LearnedDriverPolicy drives the vehicles of a traffic env without signal "
                f"agents, got {type(env).__name__}"
            )
        if env.k_nearest != self.k:
            raise ValueError(
                f"LearnedDriverPolicy: the network sees {self.k} neighbours, the env "
                f"observes {env.k_nearest} (k_nearest)"
            )
        for agent in env.vehicle_agents:
            env.set_autopilot(agent, self.features == "intent")
        self._env = env
        self.history = KinematicsHistory()

    def _bound(self):
        if self._env is None:
            raise ValueError("LearnedDriverPolicy: bind(env) first (play does it after each reset)")
        return self._env

    def inputs(self, observations: np.ndarray) -> np.ndarray:
        """The network's inputs for the env's live agents (rows of ``observations``, in
        ``env.agents`` order): the observation, and for the intent driver each neighbour
        row's type probabilities (zeros for empty rows)."""
        if self.features == "env":
            return observations
        env = self._bound()
        self.history.update(env)
        slots = nearest_slots(env, self.slots(), self.k)
        present = slots >= 0
        probs = np.zeros((*slots.shape, len(TYPES)), dtype=np.float32)
        if present.any():
            probs[present] = self.intent.probabilities(self.history.features(slots[present]))
        return np.concatenate([observations, probs.reshape(len(slots), -1)], axis=1)

    def slots(self) -> np.ndarray:
        env = self._bound()
        return np.array([env.agent_slot(a) for a in env.agents], dtype=np.int64)

    def distributions(self, x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Action probabilities and values of the network for inputs ``x``."""
        with torch.no_grad():
            logits, value = self.net(torch.from_numpy(x), torch.from_numpy(mask))
            probs = torch.softmax(logits.double(), dim=-1).numpy()
        return probs, value.numpy()

    def option_mask(self, masks: np.ndarray) -> np.ndarray:
        """The network's action masks: every option for the intent driver, the env's otherwise."""
        if self.features == "env":
            return masks
        return np.ones((len(masks), len(OPTIONS)), dtype=np.int8)

    def execute(self, chosen: np.ndarray) -> np.ndarray:
        """The env's actions for the network's ``chosen`` ones: for the intent driver, each
        vehicle takes its option's IDM/MOBIL parameters (keeping its length) and "keep"."""
        if self.features == "env":
            return chosen
        drive_with_styles(self._bound(), self.slots(), chosen)
        return np.full(len(chosen), KEEP, dtype=np.int64)

    def act_batch(self, observations, action_masks=None) -> np.ndarray:
        """The actions of every live agent of the bound env, in ``env.agents`` order."""
        env = self._bound()
        if len(observations) != len(env.agents):
            raise ValueError(
                f"LearnedDriverPolicy drives every vehicle: act_batch needs the observations of "
                f"all {len(env.agents)} live agents, got {len(observations)}"
            )
        masks = [None] * len(observations) if action_masks is None else action_masks
        pairs = [split_observation(o, m) for o, m in zip(observations, masks)]
        obs = np.stack([np.asarray(o, dtype=np.float32) for o, _ in pairs])
        mask = np.stack([np.asarray(m, dtype=np.int8) for _, m in pairs])
        probs, _ = self.distributions(self.inputs(obs), self.option_mask(mask))
        return self.execute(choose(probs, None if self.greedy else self.rng))

    def act(self, observation, action_mask=None) -> int:
        """The action of the one live agent (the policy drives every vehicle of its env)."""
        masks = None if action_mask is None else [action_mask]
        return int(self.act_batch([observation], masks)[0])

    # --- checkpoints ---

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        """Writes both networks' weights into ``path``; returns the fields that rebuild them."""
        path.mkdir(parents=True, exist_ok=True)
        state = {f"policy.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}
        if self.intent is not None:
            state |= {f"intent.{k}": v.detach().cpu() for k, v in self.intent.state_dict().items()}
        torch.save(state, path / (WEIGHTS_FILE + ".tmp"))
        (path / (WEIGHTS_FILE + ".tmp")).replace(path / WEIGHTS_FILE)
        return {
            "greedy": self.greedy,
            "features": self.features,
            "k": self.k,
            "network": self.net.shape,
            "intent_hidden": None if self.intent is None else self.intent.hidden,
        }

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        features = _field(meta, meta_file, "features", str)
        network = _field(meta, meta_file, "network", dict)
        hidden = _field(meta, meta_file, "intent_hidden", int | None)
        try:
            net = FollowerNet(**network)
            intent = None if hidden is None else IntentNet(hidden)
            policy = cls(
                net,
                intent,
                features,
                _field(meta, meta_file, "k", int),
                greedy=_field(meta, meta_file, "greedy", bool) if greedy is None else greedy,
                seed=seed,
                id=id,
            )
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"traffic driver checkpoint {meta_file}: keys 'network'/'features'/'k': {err}"
            ) from None

        def load(state: dict[str, Any]) -> None:
            net.load_state_dict(_prefixed(state, "policy."))
            if intent is not None:
                intent.load_state_dict(_prefixed(state, "intent."))

        load_weights(meta_file.parent / WEIGHTS_FILE, "traffic driver weights", load)
        return policy


def _prefixed(state: dict, prefix: str) -> dict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
