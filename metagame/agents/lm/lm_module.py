"""A ``transformers`` causal LM as an RLlib (new API stack) RLModule for the token-level duel.

``LMDuelRLModule`` plays ``llm_duel`` made with ``model=PATH``: the observation is
``[prompt ids, response ids so far, -1...]`` (right-padded), the action distribution is the
model's next-token logits at the last real position (over the whole tokenizer, action = token
id), and a linear value head reads the final hidden state there. ``model_config["model"]`` is
the local model directory; it initialises both the trained policy and a frozen reference copy,
the fixed magnet that ``metagame.agents.rllib.magnet``'s learner pulls toward with
``beta KL(pi || pi_ref)`` (Munos et al., 2023).
With ``model_config["lora"]`` (a dict of ``r``, ``alpha``, optionally ``target_modules``) only
low-rank adapters on the attention weights are trained (LoRA, Hu et al., 2022, through ``peft``)
and the reference is the same network with its adapters switched off, so no second copy of the
model is held. ``merged()`` gives a plain ``transformers`` model (adapters folded in).
Training samples at temperature 1 with no top-k/top-p filter and dropout is switched off, so
PPO's ratios are those of the policy that acted.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from torch import nn

from metagame.agents.lm.lora import with_lora
from metagame.envs.preference.lm import PAD, load_causal_lm


def last_hidden(model, observations: torch.Tensor) -> torch.Tensor:
    """Final hidden state (B, d) of the causal LM at the last real token of each row."""
    tokens = observations.long()
    mask = (tokens != PAD).long()
    out = model.base_model(input_ids=tokens.clamp(min=0), attention_mask=mask)
    index = (mask.sum(dim=1) - 1).clamp(min=0)
    return out.last_hidden_state[torch.arange(tokens.shape[0]), index]


def next_token_logits(model, observations: torch.Tensor) -> torch.Tensor:
    return model.get_output_embeddings()(last_hidden(model, observations))


class LMDuelRLModule(TorchRLModule, ValueFunctionAPI):
    def setup(self) -> None:
        model, _ = load_causal_lm(self.model_config["model"])
        for layer in model.modules():
            if isinstance(layer, nn.Dropout):
                layer.p = 0.0
        lora = self.model_config.get("lora")
        if lora:
            self.model = with_lora(model, dict(lora))
            self.lm, self.reference = self.model.get_base_model(), None
        else:
            self.model = self.lm = model
            self.reference = copy.deepcopy(model).eval()
            self.reference.requires_grad_(False)
        self.value_head = nn.Linear(model.config.hidden_size, 1)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.ACTION_DIST_INPUTS: next_token_logits(self.lm, batch[Columns.OBS])}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        hidden = last_hidden(self.lm, batch[Columns.OBS])
        return {
            Columns.ACTION_DIST_INPUTS: self.lm.get_output_embeddings()(hidden),
            Columns.EMBEDDINGS: hidden,
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = last_hidden(self.lm, batch[Columns.OBS])
        return self.value_head(embeddings).squeeze(-1)

    @torch.no_grad()
    def reference_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        if self.reference is not None:
            return next_token_logits(self.reference, batch[Columns.OBS])
        with self.model.disable_adapter():
            return next_token_logits(self.lm, batch[Columns.OBS])

    def merged(self):
        """The trained policy as a plain ``transformers`` model (LoRA adapters merged in)."""
        if self.reference is not None:
            return self.model
        return copy.deepcopy(self.model).merge_and_unload()
