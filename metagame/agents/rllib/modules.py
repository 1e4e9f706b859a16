"""RLModules with action masking, and one agent's module spec.

Masked modules take observations ``{"observations": x, "action_mask": m}`` (see
:mod:`metagame.agents.rllib.encoding`), build RLlib's default networks for ``x`` alone, and add
``log m`` (clamped at the smallest float) to the action logits or Q-values, so illegal actions
get zero probability (the approach of Huang & Ontañón 2022, "A Closer Look at Invalid Action
Masking in Policy Gradient Algorithms"). The same masking applies in exploration, inference,
training and to target networks, and DQN's epsilon-random actions are drawn among legal ones.

:class:`MaskedRandomRLModule` is a parameter-free uniform-random player over legal actions: an
opponent slot for training against random play.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.appo.torch.default_appo_torch_rl_module import (
    DefaultAPPOTorchRLModule,
)
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical
from ray.rllib.core.rl_module.apis import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.torch_utils import FLOAT_MIN

from metagame.agents.rllib.encoding import (
    ENCODED_OBS_KEY,
    MASK_KEY,
    ObservationCodec,
    space_to_json,
)
from metagame.envs.registration import make

ALGORITHMS = ("PPO", "MMD", "APPO", "IMPALA", "DQN", "SAC")
RAW_SPACE_KEY = "metagame_observation_space"


def split_mask(batch: dict[str, Any], mask_size: int) -> tuple[torch.Tensor | None, dict]:
    """(mask, batch with the bare observations); the input batch is not modified.

    The mask is the ``action_mask`` entry of dict observations, or else the last ``mask_size``
    entries of flat ones (none when ``mask_size`` is 0).
    """
    obs = batch[Columns.OBS]
    if isinstance(obs, dict) and MASK_KEY in obs:
        return obs[MASK_KEY], {**batch, Columns.OBS: obs[ENCODED_OBS_KEY]}
    if mask_size:
        return obs[..., -mask_size:], {**batch, Columns.OBS: obs[..., :-mask_size]}
    return None, batch


def log_mask(mask: torch.Tensor) -> torch.Tensor:
    """0 for legal actions, the smallest float for illegal ones."""
    return torch.clamp(torch.log(mask), min=FLOAT_MIN)


def _masked(outputs: dict[str, Any], mask: torch.Tensor | None, key: str) -> dict[str, Any]:
    if mask is not None and key in outputs:
        outputs[key] = outputs[key] + log_mask(mask)
    return outputs


class _MaskedObservations:
    """Builds the default networks for the observation part of a masked space: the
    ``observations`` of a Dict, or a flat Box without its last ``action_space.n`` entries."""

    def __init__(self, *args: Any, observation_space: gym.Space | None = None, **kwargs: Any):
        inner, mask_size = observation_space, 0
        if isinstance(observation_space, gym.spaces.Dict) and MASK_KEY in observation_space.spaces:
            inner = observation_space[ENCODED_OBS_KEY]
        elif isinstance(observation_space, gym.spaces.Box):
            mask_size = int(kwargs["action_space"].n)
            low, high = observation_space.low[:-mask_size], observation_space.high[:-mask_size]
            inner = gym.spaces.Box(low, high, low.shape, observation_space.dtype)
        super().__init__(*args, observation_space=inner, **kwargs)
        self.observation_space = observation_space
        self.mask_size = mask_size

    def split_mask(self, batch: dict[str, Any]) -> tuple[torch.Tensor | None, dict]:
        return split_mask(batch, self.mask_size)


class _MaskedLogits(_MaskedObservations):
    """Masking for actor-critic modules (PPO, and APPO/IMPALA which share its module)."""

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = self.split_mask(batch)
        return _masked(super()._forward(batch, **kwargs), mask, Columns.ACTION_DIST_INPUTS)

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        mask, batch = self.split_mask(batch)
        return _masked(super()._forward_train(batch, **kwargs), mask, Columns.ACTION_DIST_INPUTS)

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> Any:
        return super().compute_values(self.split_mask(batch)[1], embeddings)


class MaskedPPOTorchRLModule(_MaskedLogits, DefaultPPOTorchRLModule):
    """PPO's (and IMPALA's) default module with action masking."""


class MaskedAPPOTorchRLModule(_MaskedLogits, DefaultAPPOTorchRLModule):
    """APPO's default module with action masking (also on its old-policy target network)."""

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        mask, batch = self.split_mask(batch)
        return _masked(super().forward_target(batch), mask, TARGET_NETWORK_ACTION_DIST_INPUTS)


class MaskedDQNTorchRLModule(_MaskedObservations, DefaultDQNTorchRLModule):
    """DQN's default module with masked Q-values and legal epsilon-random actions."""

    def compute_q_values(self, batch: dict[str, Any]) -> dict[str, Any]:
        mask, batch = self.split_mask(batch)
        return _masked(super().compute_q_values(batch), mask, "qf_preds")

    def forward_target(self, batch: dict[str, Any]) -> dict[str, Any]:
        mask, batch = self.split_mask(batch)
        return _masked(super().forward_target(batch), mask, "qf_preds")

    def _forward_exploration(self, batch: dict[str, Any], t: int) -> dict[str, Any]:
        output = super()._forward_exploration(batch, t)
        mask, _ = self.split_mask(batch)
        if mask is not None:
            actions = output[Columns.ACTIONS]
            legal = mask.gather(1, actions.long().unsqueeze(1)).squeeze(1) > 0
            uniform = torch.multinomial(mask, num_samples=1).squeeze(1)
            # An illegal epsilon-random draw is redrawn among legal actions: still uniform.
            output[Columns.ACTIONS] = torch.where(legal, actions, uniform)
        return output


class CategoricalTorchRLModule(TorchRLModule):
    """A module over a Discrete action space whose outputs are categorical logits, in
    inference, exploration and training alike."""

    def get_inference_action_dist_cls(self):
        return TorchCategorical

    def get_exploration_action_dist_cls(self):
        return TorchCategorical

    def get_train_action_dist_cls(self):
        return TorchCategorical


class MaskedRandomRLModule(CategoricalTorchRLModule):
    """Uniformly random over legal actions (Discrete action spaces); has no parameters."""

    def setup(self) -> None:
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"MaskedRandomRLModule needs a Discrete action space, got {self.action_space}"
            )
        self._dummy = torch.nn.Parameter(torch.zeros(1), requires_grad=False)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        obs = batch[Columns.OBS]
        n = int(self.action_space.n)
        mask, _ = split_mask(batch, 0 if isinstance(obs, dict) else n)
        return {Columns.ACTION_DIST_INPUTS: log_mask(mask.float())}


_MASKED = {
    "PPO": MaskedPPOTorchRLModule,
    "MMD": MaskedPPOTorchRLModule,
    "IMPALA": MaskedPPOTorchRLModule,
    "APPO": MaskedAPPOTorchRLModule,
    "DQN": MaskedDQNTorchRLModule,
}
_MODEL_KEYS = {f.name for f in dataclasses.fields(DefaultModelConfig)}


def default_model(codec: ObservationCodec, algo: str) -> dict[str, Any]:
    """Small default networks: two hidden layers of 64, a 3-layer CNN for grids."""
    model: dict[str, Any] = {"fcnet_hiddens": [64, 64]}
    if algo == "DQN":
        model["head_fcnet_hiddens"] = [64]
    if codec.grid:
        model["conv_filters"] = [[16, 3, 1], [32, 3, 2], [32, 3, 2]]
    return model


def algorithm_config(algo: str) -> AlgorithmConfig:
    """A fresh default config of an algorithm (name already checked)."""
    if algo == "PPO":
        from ray.rllib.algorithms.ppo import PPOConfig as Config
    elif algo == "MMD":
        from metagame.agents.rllib.magnet import MMDConfig as Config
    elif algo == "APPO":
        from ray.rllib.algorithms.appo import APPOConfig as Config
    elif algo == "IMPALA":
        from ray.rllib.algorithms.impala import IMPALAConfig as Config
    elif algo == "DQN":
        from ray.rllib.algorithms.dqn import DQNConfig as Config
    else:
        from ray.rllib.algorithms.sac import SACConfig as Config
    return Config()


def check_model_keys(model: dict[str, Any]) -> None:
    unknown = sorted(set(model) - _MODEL_KEYS)
    if unknown:
        raise ValueError(f"unknown model config keys: {', '.join(unknown)}")


def agent_spec(
    observation_space: gym.Space,
    action_space: gym.Space,
    algo: str = "PPO",
    auto: dict[str, Any] | None = None,
    **model: Any,
) -> RLModuleSpec:
    """A module spec for one agent's raw observation and action spaces.

    ``auto`` holds the algorithm config's own module settings (its ``model_config``, e.g.
    DQN's ``dueling``); by default those of the algorithm's default config.
    """
    algo = check_algo(algo)
    check_model_keys(model)
    codec = ObservationCodec(observation_space)
    if codec.masked and not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"action masks need a Discrete action space, got {action_space}")
    if algo == "DQN" and not isinstance(action_space, gym.spaces.Discrete):
        raise ValueError(f"DQN needs a Discrete action space, got {action_space}")
    if algo == "SAC" and codec.masked:
        raise ValueError("SAC does not support action masks; use PPO, APPO, IMPALA or DQN")
    auto = algorithm_config(algo).model_config if auto is None else auto
    config = {
        **auto,
        **default_model(codec, algo),
        **model,
        RAW_SPACE_KEY: space_to_json(observation_space),
    }
    return RLModuleSpec(
        module_class=_MASKED.get(algo) if codec.masked else None,
        observation_space=codec.space,
        action_space=action_space,
        model_config=config,
    )


def check_algo(algo: str) -> str:
    name = str(algo).upper()
    if name not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {', '.join(ALGORITHMS)}")
    return name


def module_spec(
    env_name: str,
    env_kwargs: dict[str, Any] | None = None,
    agent: str | None = None,
    algo: str = "PPO",
    **model: Any,
) -> RLModuleSpec:
    """One agent's RLModule spec (masking, encoders, small default networks) for a game.

    ``agent`` defaults to the first of ``possible_agents``; ``model`` overrides RLlib
    ``DefaultModelConfig`` keys (e.g. ``fcnet_hiddens=[128, 128]``). ``algo="MAPPO"``: PPO's
    spec with the central critic of :mod:`metagame.agents.rllib.mappo`.
    """
    if str(algo).upper() == "MAPPO":
        from metagame.agents.rllib.mappo import central_spec

        return central_spec(module_spec(env_name, env_kwargs, agent, **model), env_name, env_kwargs)
    env = make(env_name, **(env_kwargs or {}))
    agent = env.possible_agents[0] if agent is None else agent
    if agent not in env.possible_agents:
        raise ValueError(f"{env_name} has no agent {agent!r} (agents: {env.possible_agents})")
    spec = agent_spec(env.observation_space(agent), env.action_space(agent), algo, **model)
    env.close()
    return spec
