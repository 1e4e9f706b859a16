"""The duel policy as an RLlib (new API stack) RLModule, with a frozen reference copy.

``DuelRLModule`` wraps ``TokenTransformer``: action logits and values from the last non-pad
position of the observed token sequence. ``model_config``: the ``TransformerConfig`` fields and
optionally ``weights`` (path of a ``state_dict`` saved by ``save_weights``, e.g. after SFT),
which initialise both the policy and the frozen reference policy that the Nash-MD KL term pulls
toward (``metagame.agents.rllib.magnet.MagnetPPOLearner``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule

from metagame.agents.lm.token_transformer import TokenTransformer, TransformerConfig

CONFIG_FIELDS = ("vocab_size", "num_actions", "context", "d_model", "num_layers", "num_heads")


def save_weights(model: TokenTransformer, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


class DuelRLModule(TorchRLModule, ValueFunctionAPI):
    def setup(self) -> None:
        fields = {k: self.model_config[k] for k in CONFIG_FIELDS if k in self.model_config}
        config = TransformerConfig(**fields)
        self.model = TokenTransformer(config)
        self.reference = TokenTransformer(config)
        weights = self.model_config.get("weights")
        if weights is not None:
            state = torch.load(weights, weights_only=True)
            self.model.load_state_dict(state)
        self.reference.load_state_dict(self.model.state_dict())
        self.reference.requires_grad_(False)

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, _ = self.model(batch[Columns.OBS])
        return {Columns.ACTION_DIST_INPUTS: logits}

    def _forward_train(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        hidden = self.model.last(batch[Columns.OBS])
        return {
            Columns.ACTION_DIST_INPUTS: self.model.policy_head(hidden),
            Columns.EMBEDDINGS: hidden,
        }

    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        if embeddings is None:
            embeddings = self.model.last(batch[Columns.OBS])
        return self.model.value_head(embeddings).squeeze(-1)

    @torch.no_grad()
    def reference_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        logits, _ = self.reference(batch[Columns.OBS])
        return logits
