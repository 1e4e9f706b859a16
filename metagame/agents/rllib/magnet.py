"""Magnetic mirror descent PPO: PPO pulled toward a periodically refreshed magnet policy.

Magnetic mirror descent (MMD; Sokota et al., 2023, "A unified approach to reinforcement
learning, quantal response equilibria, and two-player zero-sum games") updates a policy by

    pi_{t+1} = argmax_pi  <q_t, pi> - alpha KL(pi || rho) - (1 / eta) KL(pi || pi_t)

at every state: a proximal step toward the greedy response (here PPO's clipped surrogate,
Schulman et al., 2017, is the proximal term) with a pull of strength ``alpha`` toward a magnet
``rho``. With a fixed magnet its last iterate converges to the alpha-regularised equilibrium (a
quantal response equilibrium for a uniform magnet); Nash-MD (Munos et al., 2023) is the same
regulariser toward a fixed reference policy. Moving the magnet to the current policy every few
updates turns this into a proximal-point iteration on the regularised games, whose sequence of
fixed points approaches a Nash equilibrium of the unregularised game (the reward transformation
of R-NaD, Perolat et al., 2021, follows the same scheme).

:class:`MMDConfig` is RLlib's ``PPOConfig`` with two more ``training()`` settings:

- ``magnet_kl_coeff`` (alpha): a number, or a schedule ``[[timestep, value], ...]``
  interpolated linearly in sampled env steps (as RLlib's ``entropy_coeff``);
- ``magnet_update_every``: learner updates (``algo.train()`` iterations) between magnet
  refreshes; 0 refreshes only when the caller asks, with :func:`update_magnets`.

:class:`MagnetPPOLearner` adds ``alpha * KL(pi || rho)``, averaged over the visited states, to
PPO's loss. The magnet of a module is a frozen copy of its weights that the learner holds, or,
for a module that defines ``reference_logits(batch)`` (the token duel's pre-trained reference,
or its base model under LoRA adapters), that fixed reference (such a module's magnet cannot be
refreshed). Magnet weights and refresh counters are part of the learner's state, so RLlib
checkpoints (``save_to_path``/``restore_from_path``) resume a run exactly.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.utils.lambda_defaultdict import LambdaDefaultDict
from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME
from ray.rllib.utils.schedules.scheduler import Scheduler

MAGNET_KL_KEY = "magnet_kl"
MAGNET_KL_COEFF_KEY = "curr_magnet_kl_coeff"
MAGNET_UPDATES_KEY = "magnet_updates"
MAGNET_STATE = "magnet"


def reference_kl(logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(logits) || softmax(reference_logits)) per row."""
    logp = torch.log_softmax(logits, dim=-1)
    logq = torch.log_softmax(reference_logits, dim=-1)
    return (logp.exp() * (logp - logq)).sum(dim=-1)


def check_magnet_settings(magnet_kl_coeff: Any, magnet_update_every: Any) -> None:
    """ValueError naming the setting unless alpha is a non-negative number or schedule and the
    refresh period a non-negative integer."""
    Scheduler.validate(
        fixed_value_or_schedule=magnet_kl_coeff,
        setting_name="magnet_kl_coeff",
        description="magnet KL coefficient",
    )
    values = (
        [magnet_kl_coeff]
        if isinstance(magnet_kl_coeff, int | float)
        else [v for _, v in magnet_kl_coeff]
    )
    if any(isinstance(v, bool) or not np.isfinite(v) or v < 0 for v in values):
        raise ValueError(
            f"magnet_kl_coeff must be a finite number >= 0 or a schedule of such numbers, "
            f"got {magnet_kl_coeff!r}"
        )
    if (
        isinstance(magnet_update_every, bool)
        or not isinstance(magnet_update_every, int | np.integer)
        or magnet_update_every < 0
    ):
        raise ValueError(
            f"magnet_update_every must be an integer >= 0 (0: only when the caller updates "
            f"the magnet), got {magnet_update_every!r}"
        )


class MMDConfig(PPOConfig):
    """PPOConfig training :class:`MagnetPPOLearner` (see the module docstring)."""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        self.magnet_kl_coeff = 0.05
        self.magnet_update_every = 10

    def get_default_learner_class(self):
        return MagnetPPOLearner

    def training(
        self,
        *,
        magnet_kl_coeff: float | list[list[float]] = NotProvided,
        magnet_update_every: int = NotProvided,
        **kwargs: Any,
    ) -> MMDConfig:
        """PPO's ``training()`` plus ``magnet_kl_coeff`` and ``magnet_update_every``."""
        check_magnet_settings(
            self.magnet_kl_coeff if magnet_kl_coeff is NotProvided else magnet_kl_coeff,
            self.magnet_update_every if magnet_update_every is NotProvided else magnet_update_every,
        )
        super().training(**kwargs)
        if magnet_kl_coeff is not NotProvided:
            self.magnet_kl_coeff = magnet_kl_coeff
        if magnet_update_every is not NotProvided:
            self.magnet_update_every = int(magnet_update_every)
        return self

    def validate(self) -> None:
        super().validate()
        check_magnet_settings(self.magnet_kl_coeff, self.magnet_update_every)


def owns_reference(module: RLModule) -> bool:
    """Whether a module supplies its own fixed magnet through ``reference_logits(batch)``."""
    return callable(getattr(module, "reference_logits", None))


class MagnetPPOLearner(PPOTorchLearner):
    """PPO's torch learner with MMD's ``alpha KL(pi || magnet)`` term (module docstring)."""

    def build(self) -> None:
        super().build()
        self.magnets: dict[str, RLModule] = {}
        self.updates_since_magnet: dict[str, int] = {}
        self.magnet_updates: dict[str, int] = {}
        self.magnet_kl_coeffs = LambdaDefaultDict(
            lambda module_id: Scheduler(
                self.config.get_config_for_module(module_id).magnet_kl_coeff,
                framework="torch",
                device=self._device,
            )
        )
        for module_id in self.module.keys():
            self._hold_magnet(module_id)

    def _hold_magnet(self, module_id: str) -> None:
        """Starts a module's magnet at its current weights (unless the module owns one)."""
        self.updates_since_magnet[module_id] = 0
        self.magnet_updates[module_id] = 0
        module = self.module[module_id].unwrapped()
        if not owns_reference(module):
            magnet = copy.deepcopy(module)
            magnet.requires_grad_(False)
            self.magnets[module_id] = magnet.eval()

    def add_module(self, *, module_id: str, **kwargs: Any):
        spec = super().add_module(module_id=module_id, **kwargs)
        self._hold_magnet(module_id)
        return spec

    def remove_module(self, module_id: str, **kwargs: Any):
        spec = super().remove_module(module_id, **kwargs)
        for table in (self.magnets, self.updates_since_magnet, self.magnet_updates):
            table.pop(module_id, None)
        self.magnet_kl_coeffs.pop(module_id, None)
        return spec

    def magnet_logits(self, module_id: str, batch: dict[str, Any]) -> torch.Tensor:
        """The magnet's action logits on a training batch (no gradient)."""
        with torch.no_grad():
            if module_id in self.magnets:
                return self.magnets[module_id].forward_train(batch)[Columns.ACTION_DIST_INPUTS]
            return self.module[module_id].unwrapped().reference_logits(batch)

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        kl = reference_kl(fwd_out[Columns.ACTION_DIST_INPUTS], self.magnet_logits(module_id, batch))
        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]
            mean_kl = kl[mask].sum() / mask.sum()
        else:
            mean_kl = kl.mean()
        alpha = self.magnet_kl_coeffs[module_id].get_current_value()
        self.metrics.log_value((module_id, MAGNET_KL_KEY), mean_kl.item(), window=1)
        return loss + alpha * mean_kl

    def update_magnet(self, module_ids: Iterable[str] | None = None) -> None:
        """Moves the magnets of ``module_ids`` (default: every module with a learner-held
        magnet) to the modules' current weights."""
        ids = list(self.magnets) if module_ids is None else list(module_ids)
        for module_id in ids:
            if module_id not in self.magnets:
                raise ValueError(
                    f"module {module_id!r} has no magnet that can move (unknown, or it supplies "
                    f"its own fixed reference_logits)"
                )
            self.magnets[module_id].load_state_dict(self.module[module_id].unwrapped().state_dict())
            self.updates_since_magnet[module_id] = 0
            self.magnet_updates[module_id] += 1

    def after_gradient_based_update(self, *, timesteps: dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        for module_id in list(self.updates_since_magnet):
            if not self.should_module_be_updated(module_id):
                continue
            alpha = self.magnet_kl_coeffs[module_id].update(
                timestep=timesteps.get(NUM_ENV_STEPS_SAMPLED_LIFETIME, 0)
            )
            self.updates_since_magnet[module_id] += 1
            every = self.config.get_config_for_module(module_id).magnet_update_every
            if every and self.updates_since_magnet[module_id] >= every:
                self.update_magnet([module_id])
            self.metrics.log_value((module_id, MAGNET_KL_COEFF_KEY), alpha, window=1)
            self.metrics.log_value(
                (module_id, MAGNET_UPDATES_KEY), self.magnet_updates[module_id], window=1
            )

    def get_state(self, components=None, *, not_components=None, **kwargs: Any) -> dict:
        state = super().get_state(components, not_components=not_components, **kwargs)
        if self._check_component(MAGNET_STATE, components, not_components):
            state[MAGNET_STATE] = {
                module_id: {
                    "weights": _numpy_state(self.magnets.get(module_id)),
                    "updates_since": self.updates_since_magnet[module_id],
                    "updates": self.magnet_updates[module_id],
                }
                for module_id in self.updates_since_magnet
            }
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        for module_id, saved in state.get(MAGNET_STATE, {}).items():
            if module_id not in self.updates_since_magnet:
                self._hold_magnet(module_id)
            if saved["weights"] is not None:
                weights = {k: torch.as_tensor(v) for k, v in saved["weights"].items()}
                self.magnets[module_id].load_state_dict(weights)
            self.updates_since_magnet[module_id] = int(saved["updates_since"])
            self.magnet_updates[module_id] = int(saved["updates"])


def _numpy_state(module: RLModule | None) -> dict[str, np.ndarray] | None:
    if module is None:
        return None
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def _update_learner_magnets(module_ids: list[str] | None, learner: MagnetPPOLearner) -> None:
    learner.update_magnet(module_ids)


def update_magnets(algo: Any, module_ids: Iterable[str] | None = None) -> None:
    """Moves the magnets of ``module_ids`` (default: all) to the current weights, on every
    learner of a built MMD Algorithm (e.g. at each league iteration)."""
    ids = None if module_ids is None else list(module_ids)
    algo.learner_group.foreach_learner(functools.partial(_update_learner_magnets, ids))


def magnet_state(algo: Any) -> dict[str, Any]:
    """The first learner's magnet state (weights as NumPy arrays and refresh counters)."""
    results = algo.learner_group.foreach_learner(_learner_magnet_state)
    return next(iter(results)).get()


def _learner_magnet_state(learner: MagnetPPOLearner) -> dict[str, Any]:
    return learner.get_state(components=MAGNET_STATE)[MAGNET_STATE]
