"""PPO's train batch built from episodes as whole arrays, for the training modules only.

RLlib's default learner connector pipeline for PPO (``AddOneTsToEpisodesAndTruncate``, then
adding observations, columns, time rank, states, mapping agents to modules, batching, tensors,
then ``GeneralAdvantageEstimation``) walks every agent episode in Python: it appends a
bootstrap timestep to each episode, adds each value as one batch item, then stacks the items.
It does so for every module in the episodes, frozen ones included, whose rows the Learner
drops afterwards (``Learner.should_module_be_updated``). On a game whose episodes last a few
steps (Kuhn, Leduc) that is as much time as the gradient steps.

:class:`TrainBatch` is one learner connector piece that builds the same batch from the
episodes' NumPy buffers (:meth:`SingleAgentEpisode.to_numpy`'d episodes, as every EnvRunner
returns them), for the training modules only:

- per agent episode of length ``L``, ``L + 1`` rows: observations ``o_0 .. o_L``; actions,
  module outputs ``a_0 .. a_{L-1}, a_{L-1}``; rewards ``r_0 .. r_{L-1}, 0``; the loss mask,
  ``terminateds`` and ``truncateds`` (the last real row marks the episode's end: terminated,
  or truncated when it did not end), as RLlib's bootstrap timestep gives them;
- rows in RLlib's order (episodes in order, each episode's agents in ``agent_ids`` order);
- the value function run once per module over its rows, then GAE value targets
  (:func:`value_targets`, Schulman et al. 2016, vectorised over episode segments: the same
  floating-point operations as RLlib's ``compute_value_targets`` loop) and advantages
  standardised over the module's rows, as RLlib's ``GeneralAdvantageEstimation`` does.

The batch is the one RLlib's pipeline gives (the tests compare them), so the Learner's
minibatches and updates are unchanged. The episodes are not modified. Stateful (recurrent)
modules are not supported.

:func:`use_train_batch` installs it in a PPO-family config (replacing RLlib's default learner
pipeline).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import numpy as np
import tree
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.numpy import convert_to_numpy
from ray.rllib.utils.torch_utils import convert_to_torch_tensor


def value_targets(
    values: np.ndarray,
    rewards: np.ndarray,
    terminateds: np.ndarray,
    truncateds: np.ndarray,
    gamma: float,
    lambda_: float,
) -> np.ndarray:
    """GAE value targets (advantages plus values) over concatenated rows.

    The recursion ``A_t = delta_t + gamma * lambda * propagate_t * A_{t+1}`` restarts after each
    row whose ``propagate_t = (1 - terminated_t)(1 - truncated_t)`` is zero, so the rows split
    into independent segments; the recursion runs backwards over positions within segments,
    for all segments at once, with the same operations (and float64 accumulator) as RLlib's
    row-by-row loop."""
    non_terminal = 1.0 - terminateds
    propagate = non_terminal * (1.0 - truncateds)
    next_state_values = np.append(values[1:], 0.0)
    td_residuals = rewards + gamma * non_terminal * next_state_values - values
    n = td_residuals.shape[0]
    advantages = np.zeros_like(rewards, dtype=np.float32)
    if n == 0:
        return (advantages + values).astype(np.float32)
    ends = np.flatnonzero(propagate[:-1] == 0) + 1  # a segment starts after each cut
    starts = np.concatenate([[0], ends])
    stops = np.concatenate([ends, [n]])
    running = np.zeros(len(starts))
    for back in range(int((stops - starts).max())):
        rows = stops - 1 - back
        alive = rows >= starts
        t = rows[alive]
        running[alive] = td_residuals[t] + gamma * lambda_ * propagate[t] * running[alive]
        advantages[t] = running[alive]
    return (advantages + values).astype(np.float32)


def _items(buffer: Any, stop: int) -> Any:
    """Items ``0 .. stop - 1`` of an episode's NumPy buffer (after its lookback)."""
    start, data = buffer.lookback, buffer.data
    if isinstance(data, np.ndarray):
        return data[start : start + stop]
    return tree.map_structure(lambda a: a[start : start + stop], data)


def _concatenate(parts: list[Any]) -> Any:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return tree.map_structure(lambda *a: np.concatenate(a), *parts)


class _ModuleRows:
    """One module's agent episodes, gathered, then turned into its batch's columns."""

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.terminated: list[bool] = []
        self.cut: list[bool] = []  # truncated, or not done: the bootstrap value counts
        self.observations: list[Any] = []
        self.actions: list[Any] = []
        self.rewards: list[np.ndarray] = []
        self.extra: dict[str, list[Any]] = {}

    def add(self, single: Any) -> None:
        length = len(single)
        if length == 0:
            raise ValueError(f"agent {single.agent_id!r}: an episode without actions")
        self.lengths.append(length)
        self.terminated.append(bool(single.is_terminated))
        self.cut.append(bool(single.is_truncated or not single.is_terminated))
        self.observations.append(_items(single.observations, length + 1))
        self.actions.append(_items(single.actions, length))
        self.rewards.append(_items(single.rewards, length))
        for key, buffer in single.extra_model_outputs.items():
            self.extra.setdefault(key, []).append(_items(buffer, length))

    def columns(self) -> dict[str, Any]:
        """The columns in RLlib's order: loss mask, terminateds, truncateds, observations,
        actions, rewards, module outputs."""
        lengths = np.asarray(self.lengths)
        rows = lengths + 1
        first = np.repeat(np.cumsum(rows) - rows, rows)
        position = np.arange(rows.sum()) - first  # 0 .. L within each agent episode
        length = np.repeat(lengths, rows)
        last = position == length - 1
        # each output row's item among the concatenated L items: the last one repeated
        item = np.repeat(np.cumsum(lengths) - lengths, rows) + np.minimum(position, length - 1)
        rewards = np.concatenate(self.rewards)
        padded = np.zeros(len(position), rewards.dtype)
        padded[position < length] = rewards

        def repeated(parts: list[Any]) -> Any:
            return tree.map_structure(lambda a: a[item], _concatenate(parts))

        return {
            Columns.LOSS_MASK: position < length,
            Columns.TERMINATEDS: last & np.repeat(self.terminated, rows),
            Columns.TRUNCATEDS: last & np.repeat(self.cut, rows),
            Columns.OBS: _concatenate(self.observations),
            Columns.ACTIONS: repeated(self.actions),
            Columns.REWARDS: padded,
            **{key: repeated(parts) for key, parts in self.extra.items()},
        }


class TrainBatch(ConnectorV2):
    """Learner connector: PPO's train batch for ``modules`` (see the module docstring)."""

    def __init__(
        self,
        input_observation_space=None,
        input_action_space=None,
        *,
        modules: Collection[str],
        gamma: float,
        lambda_: float,
        **kwargs: Any,
    ):
        super().__init__(input_observation_space, input_action_space, **kwargs)
        self.modules = frozenset(modules)
        self.gamma = gamma
        self.lambda_ = lambda_

    def __call__(self, *, rl_module, batch, episodes, **kwargs) -> dict[str, Any]:
        gathered: dict[str, _ModuleRows] = {}
        wanted = {m for m in self.modules if m in rl_module}
        for episode in episodes:
            for agent in episode.agent_ids:  # RLlib's order (a set, as RLlib iterates it)
                single = episode.agent_episodes[agent]
                if single.module_id in wanted:
                    if single.module_id not in gathered:
                        gathered[single.module_id] = _ModuleRows()
                    gathered[single.module_id].add(single)
        for module, rows in gathered.items():
            batch[module] = self._tensors(rl_module[module], rows.columns())
        return batch

    def _tensors(self, module: Any, columns: dict[str, Any]) -> dict[str, Any]:
        """A module's columns as tensors on its device (as RLlib's ``NumpyToTensor`` converts
        them: float64 becomes float32), with GAE advantages and value targets."""
        if module.is_stateful():
            raise ValueError("TrainBatch: recurrent modules are not supported")
        device = next(module.parameters()).device
        tensors = convert_to_torch_tensor(columns, device=device)
        values = convert_to_numpy(module.compute_values(tensors))
        targets = value_targets(
            values,
            convert_to_numpy(tensors[Columns.REWARDS]),
            convert_to_numpy(tensors[Columns.TERMINATEDS]),
            convert_to_numpy(tensors[Columns.TRUNCATEDS]),
            self.gamma,
            self.lambda_,
        )
        advantages = targets - values
        advantages = (advantages - advantages.mean()) / max(1e-4, advantages.std())
        gae = {Postprocessing.ADVANTAGES: advantages, Postprocessing.VALUE_TARGETS: targets}
        return tensors | convert_to_torch_tensor(gae, device=device)


def use_train_batch(config: Any) -> Any:
    """``config`` (a PPO-family AlgorithmConfig) learning from :class:`TrainBatch` instead of
    RLlib's default learner pipeline; other configs (another algorithm, a custom learner
    connector, recurrent models) are returned unchanged."""
    from ray.rllib.algorithms.ppo.ppo_learner import PPOLearner

    learner = config.learner_class or config.get_default_learner_class()
    if (
        not issubclass(learner, PPOLearner)
        or config._learner_connector is not None
        or any(_recurrent(m) for m in _model_configs(config))
    ):
        return config
    modules = config.policies_to_train
    if modules is None or callable(modules):
        modules = config.policies
    return config.learners(
        learner_connector=functools.partial(
            TrainBatch, modules=sorted(modules), gamma=config.gamma, lambda_=config.lambda_
        ),
        add_default_connectors_to_learner_pipeline=False,
    )


def _model_configs(config: Any) -> list[Any]:
    """The config's model settings and those of each module spec."""
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec

    spec = config.rl_module_spec
    specs = spec.rl_module_specs.values() if isinstance(spec, MultiRLModuleSpec) else [spec]
    return [config.model_config, *(s.model_config for s in specs if s is not None)]


def _recurrent(model_config: Any) -> bool:
    def get(key: str) -> Any:
        if isinstance(model_config, dict):
            return model_config.get(key)
        return getattr(model_config, key, None)

    return bool(get("use_lstm") or get("use_attention"))
