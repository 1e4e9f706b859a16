"""A policy network conditioned on a mixture over population slots: NeuPL's population in one net.

Neural Population Learning (Liu et al., ICLR 2022, "NeuPL: Neural Population Learning") keeps a
whole population of policies in one network ``pi(a | o, sigma)``: policy ``i`` of the population
is the network conditioned on ``sigma_i``, the mixture over the population it best-responds to.
Simplex-NeuPL (Liu et al., ICML 2022, "Simplex Neural Population Learning: Any-Mixture
Bayes-Optimality in Symmetric Zero-sum Games") trains the same network on mixtures drawn from the
whole simplex, so that it best-responds to any mixture it is given.

:class:`MixtureConditionedRLModule` is that network as an RLlib RLModule (new API stack). It
observes what the league's PPO modules observe (the bridge's tensor followed by the legal-action
mask, :class:`metagame.agents.rllib.encoding.ObservationCodec`) and reads the conditioning
mixture from the batch column :data:`MIXTURE_KEY` (``(batch, num_slots)``); a batch without that
column is conditioned on the module's ``mixture`` buffer, so a module whose buffer holds
``sigma_i`` *is* policy ``i`` for ``metagame.agents.policy.RLModulePolicy``, ``save_policy`` and
``load_policy``. The policy and value networks are separate MLPs over ``[features, mixture]``;
illegal actions get the smallest float as logit (as in :mod:`metagame.agents.rllib.modules`).

``model_config``: ``num_slots``, ``fcnet_hiddens`` (default ``[64, 64]``) and
``metagame_observation_space`` (the raw observation space as JSON, as in every metagame spec).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI

from metagame.agents.rllib.modules import CategoricalTorchRLModule, log_mask

MIXTURE_KEY = "metagame_mixture"
NUM_SLOTS_KEY = "num_slots"


def mlp(sizes: list[int]) -> torch.nn.Sequential:
    """Linear layers of the given widths with tanh between them (none after the last)."""
    layers: list[torch.nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if k:
            layers.append(torch.nn.Tanh())
        layers.append(torch.nn.Linear(a, b))
    return torch.nn.Sequential(*layers)


class MixtureConditionedRLModule(CategoricalTorchRLModule, ValueFunctionAPI):
    """``pi(a | o, sigma)`` and ``V(o, sigma)`` over flat masked observations (module docstring)."""

    def setup(self) -> None:
        space = self.observation_space
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(
                f"a mixture-conditioned module needs a Discrete action space, got "
                f"{self.action_space}"
            )
        if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
            raise ValueError(f"a mixture-conditioned module needs flat observations, got {space}")
        slots = int(self.model_config.get(NUM_SLOTS_KEY, 0))
        if slots < 1:
            raise ValueError(f"model_config {NUM_SLOTS_KEY!r} must be >= 1, got {slots}")
        self.num_actions = int(self.action_space.n)
        self.num_slots = slots
        width = int(space.shape[0]) - self.num_actions + slots
        hidden = [int(h) for h in self.model_config.get("fcnet_hiddens", [64, 64])]
        self.pi = mlp([width, *hidden, self.num_actions])
        self.vf = mlp([width, *hidden, 1])
        self.register_buffer("mixture", torch.full((slots,), 1.0 / slots))

    def _inputs(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(network input ``[features, mixture]``, legal-action mask)."""
        obs = batch[Columns.OBS].float()
        features, mask = obs[..., : -self.num_actions], obs[..., -self.num_actions :]
        mixture = batch.get(MIXTURE_KEY)
        if mixture is None:
            mixture = self.mixture.expand(len(obs), -1)
        return torch.cat([features, mixture.float()], dim=-1), mask

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        x, mask = self._inputs(batch)
        return {Columns.ACTION_DIST_INPUTS: self.pi(x) + log_mask(mask)}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        x, mask = self._inputs(batch)
        return {
            Columns.ACTION_DIST_INPUTS: self.pi(x) + log_mask(mask),
            Columns.VF_PREDS: self.vf(x).squeeze(-1),
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        return self.vf(self._inputs(batch)[0]).squeeze(-1)

    def set_mixture(self, mixture: Any) -> None:
        """Conditions the module (for batches without :data:`MIXTURE_KEY`) on ``mixture``."""
        value = torch.as_tensor(mixture, dtype=torch.float32)
        if value.shape != (self.num_slots,):
            raise ValueError(
                f"mixture: expected shape ({self.num_slots},), got {tuple(value.shape)}"
            )
        self.mixture.copy_(value)
