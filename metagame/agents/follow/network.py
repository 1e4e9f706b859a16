"""The follower network: a small actor-critic MLP over one agent's local window.

``forward(x, mask)`` takes ``(B, C, S, S)`` float32 windows and ``(B, A)`` action masks and
returns masked action logits (illegal actions at the smallest float, as in
:mod:`metagame.agents.rllib.modules`) and state values. Its constructor arguments are plain
ints, so a checkpoint records them as JSON beside a tensor state dict.
"""

from __future__ import annotations

import torch
from torch import nn

NEG = torch.finfo(torch.float32).min


class FollowerNet(nn.Module):
    """Shared trunk (two ReLU layers), a policy head and a value head."""

    def __init__(self, channels: int, size: int, num_actions: int, hidden: int = 128):
        super().__init__()
        for name, value in (
            ("channels", channels),
            ("size", size),
            ("num_actions", num_actions),
            ("hidden", hidden),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FollowerNet: {name} must be a positive int, got {value!r}")
        self.shape = {
            "channels": channels,
            "size": size,
            "num_actions": num_actions,
            "hidden": hidden,
        }
        self.trunk = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * size * size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.pi = nn.Linear(hidden, num_actions)
        self.v = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(x)
        logits = torch.where(mask > 0, self.pi(h), torch.full_like(mask, NEG, dtype=h.dtype))
        return logits, self.v(h).squeeze(-1)
