"""A small causal transformer language model for the token duel.

Input: token ids ``[prompt, <sep>, response so far, <pad>...]`` (the duel's observation).
Outputs, at the last non-pad position: logits over the generated tokens (``<eos>`` and the
words; action ``a`` is token ``a + 2``) and a value estimate. Decoder-only with learned
positional embeddings and a causal mask (Radford et al., 2018), pre-norm blocks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

PAD_ID = 0


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    num_actions: int
    context: int
    d_model: int = 48
    num_layers: int = 2
    num_heads: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


class TokenTransformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model, padding_idx=PAD_ID)
        self.position = nn.Embedding(config.context, config.d_model)
        layer = nn.TransformerEncoderLayer(
            config.d_model,
            config.num_heads,
            4 * config.d_model,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.policy_head = nn.Linear(config.d_model, config.num_actions)
        self.value_head = nn.Linear(config.d_model, 1)
        causal = torch.triu(torch.ones(config.context, config.context, dtype=torch.bool), 1)
        self.register_buffer("causal", causal, persistent=False)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids -> (B, L, d) hidden states."""
        tokens = tokens.long()
        L = tokens.shape[1]
        x = self.embed(tokens) + self.position.weight[:L]
        return self.norm(self.blocks(x, mask=self.causal[:L, :L]))

    def last(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden state at the last non-pad position of each sequence: (B, d)."""
        h = self.hidden(tokens)
        index = ((tokens != PAD_ID).sum(dim=1) - 1).clamp(min=0)
        return h[torch.arange(h.shape[0]), index]

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token logits (B, num_actions) and values (B,)."""
        h = self.last(tokens)
        return self.policy_head(h), self.value_head(h).squeeze(-1)

    @torch.no_grad()
    def act(self, tokens: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """Samples one next token (as an action) per row of ``tokens``."""
        logits, _ = self(torch.as_tensor(np.atleast_2d(tokens)))
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1).numpy()
