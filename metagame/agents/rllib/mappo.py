"""MAPPO: PPO with a centralised value function (Yu et al., "The Surprising Effectiveness of PPO
in Cooperative Multi-Agent Games", NeurIPS 2022 Datasets and Benchmarks).

Every agent acts from its own observation through a shared actor (parameter sharing, as in
the paper); the critic sees the environment's global state (``env.state()`` of the PettingZoo
Parallel env) together with the agent's own observation, the paper's "agent-specific" global
state, so that one critic can value each agent. Execution stays decentralised: inference uses
the actor only, so a trained module is an ordinary policy.

The pieces, on RLlib's new API stack:

- :class:`GlobalStateAdapter`: the env adapter, which adds the global state to every agent's
  infos under :data:`STATE_KEY` (one array per step, shared by all agents);
- :class:`AddGlobalStateToBatch`: a learner connector piece that moves those states into the
  train batch as column :data:`STATE_KEY`, aligned with the observations (also for the extra
  bootstrap step PPO's learner appends);
- :class:`MAPPOTorchRLModule` (masked actions) and :class:`MAPPOUnmaskedTorchRLModule`: PPO's
  default modules whose ``compute_values`` reads the batch's global state; the critic is a
  state network (a small CNN over a channels-first grid state, else an MLP over the flattened
  state) whose features are concatenated with the critic encoder's features of the local
  observation;
- :func:`mappo_config`: ``rllib_config(..., algo="MAPPO")``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.models.base import CRITIC, ENCODER_OUT
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from torch import nn

from metagame.agents.rllib.env import MultiAgentAdapter, env_id, is_single_agent
from metagame.agents.rllib.modules import MaskedPPOTorchRLModule
from metagame.envs.registration import make

STATE_KEY = "global_state"
STATE_SHAPE_KEY = "global_state_shape"
STATE_FEATURES = 128


class GlobalStateAdapter(MultiAgentAdapter):
    """:class:`MultiAgentAdapter` whose infos carry ``env.state()`` (float32) for every agent
    that observes."""

    def __init__(self, env_name: str, env_kwargs: dict[str, Any] | None = None):
        super().__init__(env_name, env_kwargs)
        if self.aec:
            raise ValueError(f"MAPPO needs a Parallel (simultaneous-move) game, {env_name} is AEC")
        state_space(self.env, env_name)

    def _with_state(self, observations: dict[str, Any], infos: dict[str, Any]) -> dict:
        state = np.asarray(self.env.state(), dtype=np.float32)
        return {a: {**infos.get(a, {}), STATE_KEY: state} for a in observations}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = super().reset(seed=seed, options=options)
        return obs, self._with_state(obs, infos)

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terminateds, truncateds, infos = super().step(action_dict)
        return obs, rewards, terminateds, truncateds, self._with_state(obs, infos)


def state_space(env: Any, env_name: str) -> gym.spaces.Box:
    """The env's global state space (a Box), checked against what ``state()`` returns."""
    space = getattr(env, "state_space", None)
    if not callable(getattr(env, "state", None)) or not isinstance(space, gym.spaces.Box):
        raise ValueError(
            f"MAPPO needs a global state: {env_name} has no state() with a Box state_space"
        )
    return space


def register_state_env(env_name: str, env_kwargs: dict[str, Any] | None = None) -> str:
    """Registers the game wrapped in :class:`GlobalStateAdapter` with Tune; returns its id."""
    from ray.tune.registry import register_env as tune_register

    kwargs = dict(env_kwargs or {})
    name = "mappo-" + env_id(env_name, kwargs)
    tune_register(name, lambda _config: GlobalStateAdapter(env_name, kwargs))
    return name


class AddGlobalStateToBatch(ConnectorV2):
    """Learner connector piece: column :data:`STATE_KEY` from the episodes' infos.

    One item per observation the learner sees (``obs[0:len(episode)]``, the layout of RLlib's
    ``AddObservationsFromEpisodesToBatch``), in the same per-episode order, so the later
    default pieces batch it and map it to modules exactly like the observations.
    """

    def __call__(self, *, rl_module, batch, episodes, explore=None, shared_data=None, **kwargs):
        for i, episode in enumerate(
            self.single_agent_episode_iterator(episodes, agents_that_stepped_only=False)
        ):
            if "_" not in episode.id_:  # the id RLlib's observation piece gives each chunk
                episode.id_ += "_" + str(i)
            infos = episode.get_infos(slice(0, len(episode)))
            self.add_n_batch_items(
                batch,
                STATE_KEY,
                items_to_add=[info[STATE_KEY] for info in infos],
                num_items=len(episode),
                single_agent_episode=episode,
            )
        return batch


def state_network(shape: tuple[int, ...]) -> nn.Module:
    """Features of a global state: a CNN for channels-first grids (C, H, W), else an MLP."""
    if len(shape) == 3:
        return nn.Sequential(
            nn.Conv2d(shape[0], 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, STATE_FEATURES),
            nn.ReLU(),
        )
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(int(np.prod(shape)), STATE_FEATURES),
        nn.ReLU(),
        nn.Linear(STATE_FEATURES, STATE_FEATURES),
        nn.ReLU(),
    )


class _CentralCritic:
    """Replaces PPO's value head by one over (local critic features, global state features)."""

    def setup(self) -> None:
        super().setup()
        shape = self.model_config.get(STATE_SHAPE_KEY)
        if not isinstance(shape, list | tuple) or not all(
            isinstance(d, int) and d > 0 for d in shape
        ):
            raise ValueError(f"model_config[{STATE_SHAPE_KEY!r}] must list positive ints: {shape}")
        self.state_shape = tuple(shape)
        if self.inference_only:  # the actor alone acts; the critic exists for training
            return
        self.state_net = state_network(self.state_shape)
        local = _in_features(self.vf)
        hidden = list(self.model_config.get("head_fcnet_hiddens") or [256])
        layers: list[nn.Module] = []
        width = local + STATE_FEATURES
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.vf = nn.Sequential(*layers, nn.Linear(width, 1))

    def get_non_inference_attributes(self) -> list[str]:
        return [*super().get_non_inference_attributes(), "state_net"]

    def _local_features(self, batch: dict[str, Any]) -> torch.Tensor:
        encoder = self.encoder
        if hasattr(encoder, "critic_encoder"):
            return encoder.critic_encoder(batch)[ENCODER_OUT]
        return encoder(batch)[ENCODER_OUT][CRITIC]

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if STATE_KEY not in batch:
            raise ValueError(
                f"MAPPO's critic needs the batch column {STATE_KEY!r} (the env's global state)"
            )
        local = embeddings if embeddings is not None else self._local_features(batch)
        state = batch[STATE_KEY].float().reshape(-1, *self.state_shape)
        features = torch.cat([local, self.state_net(state)], dim=-1)
        return self.vf(features).squeeze(-1)


def _in_features(module: nn.Module) -> int:
    """Input width of the first linear layer of a head."""
    return next(m.in_features for m in module.modules() if isinstance(m, nn.Linear))


class MAPPOTorchRLModule(_CentralCritic, MaskedPPOTorchRLModule):
    """MAPPO for games with action masks: the masked PPO actor, the central critic."""

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return super().compute_values(self.split_mask(batch)[1], embeddings)


class MAPPOUnmaskedTorchRLModule(_CentralCritic, DefaultPPOTorchRLModule):
    """MAPPO for games without action masks."""


def mappo_config(
    env_name: str,
    sharing: str = "all",
    env_kwargs: dict[str, Any] | None = None,
    **hparams: Any,
) -> AlgorithmConfig:
    """A PPO config (from ``rllib_config``) turned into MAPPO: the env reports its global
    state, the learner batches it, and every module is a central-critic module."""
    from metagame.agents.rllib.config import rllib_config

    env = make(env_name, **(env_kwargs or {}))
    space = state_space(env, env_name)
    single = is_single_agent(env)
    env.close()
    if single:
        raise ValueError(f"MAPPO is for games of several agents; {env_name} has one")
    config = rllib_config(env_name, "PPO", sharing, env_kwargs, **hparams)
    config.environment(register_state_env(env_name, env_kwargs))
    specs = config.rl_module_spec.rl_module_specs
    config.rl_module(
        rl_module_spec=MultiRLModuleSpec(
            rl_module_specs={mid: _central(spec, space.shape) for mid, spec in specs.items()}
        )
    )
    config.learners(learner_connector=_state_connector)
    return config


def central_spec(
    spec: RLModuleSpec, env_name: str, env_kwargs: dict[str, Any] | None = None
) -> RLModuleSpec:
    """``spec`` (one agent's PPO module spec for ``env_name``) with MAPPO's central critic on
    the game's global state."""
    env = make(env_name, **(env_kwargs or {}))
    try:
        space = state_space(env, env_name)
    finally:
        env.close()
    return _central(spec, space.shape)


def _state_connector(observation_space: Any, action_space: Any) -> ConnectorV2:
    return AddGlobalStateToBatch()


def _central(spec: RLModuleSpec, shape: tuple[int, ...]) -> RLModuleSpec:
    cls = MAPPOTorchRLModule if spec.module_class is not None else MAPPOUnmaskedTorchRLModule
    return RLModuleSpec(
        module_class=cls,
        observation_space=spec.observation_space,
        action_space=spec.action_space,
        model_config={**spec.model_config, STATE_SHAPE_KEY: list(shape)},
    )
