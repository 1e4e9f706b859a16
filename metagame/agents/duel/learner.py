"""PPO with Nash-MD's KL-to-reference regulariser, for token-level self-play.

SPO supplies the reward (each sampled response's win rate against the other responses to the
same prompt, computed by the duel env); this learner adds ``beta * KL(pi || pi_ref)`` at every
visited state to PPO's clipped loss (Schulman et al., 2017), the regulariser of Nash-MD
(Munos et al., 2023) whose fixed point is the beta-regularised Nash equilibrium.
``beta`` is ``learner_config_dict["ref_kl_coeff"]``.
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns

REF_KL_KEY = "ref_kl"


def reference_kl(logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(logits) || softmax(reference_logits)) per row."""
    logp = torch.log_softmax(logits, dim=-1)
    logq = torch.log_softmax(reference_logits, dim=-1)
    return (logp.exp() * (logp - logq)).sum(dim=-1)


class NashMDPPOLearner(PPOTorchLearner):
    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        beta = float(config.learner_config_dict.get("ref_kl_coeff", 0.0))
        module = self.module[module_id].unwrapped()
        kl = reference_kl(fwd_out[Columns.ACTION_DIST_INPUTS], module.reference_logits(batch))
        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]
            mean_kl = kl[mask].sum() / mask.sum()
        else:
            mean_kl = kl.mean()
        self.metrics.log_value((module_id, REF_KL_KEY), mean_kl.item(), window=1)
        return loss + beta * mean_kl
