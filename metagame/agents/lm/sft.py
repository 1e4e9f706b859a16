"""Supervised pre-training of the duel policy on a prompt set's reference answers.

Teacher forcing on ``[prompt, <sep>, reference, <eos>]``: cross-entropy of each response token
(and the final ``<eos>``) given everything before it, the usual language-model SFT stage that
precedes preference optimisation (Ouyang et al., 2022).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from metagame.agents.lm.token_transformer import TokenTransformer
from metagame.envs.preference.prompts import EOS, SEP, Prompt, Vocabulary


def sft_batch(
    prompts: Sequence[Prompt], vocab: Vocabulary, context: int, max_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """All teacher-forcing prefixes: (M, context) inputs and (M,) target actions."""
    inputs, targets = [], []
    for p in prompts:
        if not p.reference:
            continue
        answer = list(vocab.encode(p.reference))[: max_tokens - 1] + [vocab.index[EOS]]
        prefix = [*vocab.encode(p.text), vocab.index[SEP]]
        for token in answer:
            row = np.zeros(context, dtype=np.int64)
            row[: len(prefix)] = prefix
            inputs.append(row)
            targets.append(token - 2)
            prefix.append(token)
    if not inputs:
        raise ValueError("no prompt has a reference answer to pre-train on")
    return torch.as_tensor(np.array(inputs)), torch.as_tensor(np.array(targets))


def pretrain(
    model: TokenTransformer,
    prompts: Sequence[Prompt],
    vocab: Vocabulary,
    max_tokens: int,
    steps: int = 200,
    lr: float = 3e-3,
    seed: int = 0,
) -> list[float]:
    """Fits ``model`` to the reference answers by full-batch Adam; returns the loss per step."""
    torch.manual_seed(seed)
    x, y = sft_batch(prompts, vocab, model.config.context, max_tokens)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
