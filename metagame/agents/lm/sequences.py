"""Whole answers of a causal LM: batched cached sampling and sequence log-probabilities.

``sample_answers`` draws one answer per row of a prompt batch with ``model.generate`` (the
key/value cache, every row in one call) at temperature 1 with no top-k/top-p filter, so that the
answers are draws from the policy whose log-probabilities the learners differentiate. Rows named
in ``mixture_rows`` are drawn instead from the token-level geometric mixture of the policy and a
reference, pi_mix(.|x, y<t) ∝ pi(.|x, y<t)^(1-w) pi_ref(.|x, y<t)^w: Nash-MD's opponent
(Munos et al., 2023), as in its deep-learning experiments (the sequence-level mixture does not
factorise over tokens). ``GeometricMixture`` is that logits processor; it keeps the reference's
own key/value cache, so each generated token costs one more single-position forward pass.

``sequence_logprobs`` gives log pi(y | x) = sum_t log pi(y_t | x, y<t) of every answer in one
forward pass over the batch of [prompt | answer] rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from metagame.envs.preference.lm import padded


@dataclass
class Answers:
    """A batch of [left-padded prompt | answer] rows: ``ids`` (N, P + T), ``mask`` (1 on real
    prompt tokens and on answer tokens up to and including the first eos), ``prompt_width`` P."""

    ids: torch.Tensor
    mask: torch.Tensor
    prompt_width: int

    @property
    def answer_mask(self) -> torch.Tensor:
        return self.mask[:, self.prompt_width :]

    @property
    def answer_ids(self) -> torch.Tensor:
        return self.ids[:, self.prompt_width :]

    def tokens(self) -> list[list[int]]:
        """Each answer's token ids (its eos included when drawn)."""
        lengths = self.answer_mask.sum(dim=1).tolist()
        return [row[:n] for row, n in zip(self.answer_ids.tolist(), lengths)]

    @property
    def num_tokens(self) -> int:
        return int(self.answer_mask.sum())


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of left-padded rows: 0 at each row's first real token."""
    return (mask.cumsum(dim=1) - 1).clamp(min=0)


def answer_mask(answer_ids: torch.Tensor, eos: int) -> torch.Tensor:
    """1 up to and including the first ``eos`` of each row, 0 after it."""
    is_eos = (answer_ids == eos).long()
    before = is_eos.cumsum(dim=1) - is_eos  # eos tokens strictly before each position
    return (before == 0).long()


class GeometricMixture(LogitsProcessor):
    """Replaces the scores of ``rows`` by (1 - w) log_softmax(scores) + w log_softmax(reference
    logits); ``reference(input_ids, attention_mask, position_ids, past_key_values)`` returns the
    reference's output (with ``logits`` and ``past_key_values``) for those rows."""

    def __init__(self, reference: Callable, prompt_mask: torch.Tensor, rows, weight: float):
        self.reference, self.weight = reference, float(weight)
        self.rows = torch.as_tensor(rows, dtype=torch.long)
        self.mask = prompt_mask[self.rows]
        self.past = None

    @torch.no_grad()
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = input_ids[self.rows]
        if self.past is not None:  # one new token since the last call
            self.mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
            ids = ids[:, -1:]
        out = self.reference(
            input_ids=ids,
            attention_mask=self.mask,
            position_ids=positions(self.mask)[:, -ids.shape[1] :],
            past_key_values=self.past,
        )
        self.past = out.past_key_values
        w = self.weight
        mixed = (1 - w) * torch.log_softmax(scores[self.rows].float(), dim=-1)
        mixed = mixed + w * torch.log_softmax(out.logits[:, -1].float(), dim=-1)
        scores = scores.clone()
        scores[self.rows] = mixed.to(scores.dtype)
        return scores


def sample_answers(
    model,
    prompts: Sequence[Sequence[int]],
    max_tokens: int,
    pad: int,
    eos: int,
    seed: int,
    reference: Callable | None = None,
    mixture_rows=(),
    mixture_weight: float = 0.5,
) -> Answers:
    """One answer of at most ``max_tokens`` per prompt (token ids), sampled in one cached
    ``generate`` call; rows ``mixture_rows`` from the geometric mixture with ``reference``."""
    ids, mask = padded(prompts, pad)
    processors = LogitsProcessorList()
    if len(mixture_rows):
        if reference is None:
            raise ValueError("mixture_rows need a reference model")
        processors.append(GeometricMixture(reference, mask, mixture_rows, mixture_weight))
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_tokens,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            pad_token_id=pad,
            eos_token_id=eos,
            logits_processor=processors,
        )
    answer = out[:, ids.shape[1] :]
    return Answers(out, torch.cat([mask, answer_mask(answer, eos)], dim=1), ids.shape[1])


def sequence_logprobs(model, answers: Answers) -> torch.Tensor:
    """log pi(answer | prompt) per row (N,), from one forward pass (differentiable)."""
    logits = model(
        input_ids=answers.ids,
        attention_mask=answers.mask,
        position_ids=positions(answers.mask),
    ).logits
    P = answers.prompt_width
    predicted = torch.log_softmax(logits[:, P - 1 : -1].float(), dim=-1)
    token = predicted.gather(-1, answers.answer_ids.unsqueeze(-1)).squeeze(-1)
    return (token * answers.answer_mask).sum(dim=1)
