"""Sequence-level preference learners for a ``transformers`` causal LM: SPO, Nash-MD and INPO.

Each step draws ``prompts_per_step`` prompts of ``llm_duel`` (made with ``model=PATH``), samples
``group`` whole answers per prompt with ``model.generate`` (key/value cache, every answer of the
step in one call; ``sequences.sample_answers``), has the env's judge compare them, and takes one
gradient step (Adam) on a loss of the answers' sequence log-probabilities log pi(y | x), computed
in one forward pass over the answer batch (``sequences.sequence_logprobs``):

- ``spo``, self-play preference optimisation (Swamy et al., 2024): each answer's reward is its
  win rate against the other answers to the same prompt; REINFORCE (Williams, 1992) with the
  group mean as baseline.
- ``nash_md``, Nash mirror descent (Munos et al., 2023), as their policy-gradient version: the
  opponents are ``group`` answers per prompt drawn from the geometric mixture
  pi^(1-w) pi_ref^w (``mixture`` = w, token-level), an answer's reward is its mean preference
  over them, REINFORCE on the policy's answers only.
- ``inpo``, iterative Nash policy optimisation (Zhang et al., 2024): no-regret online mirror
  descent with the least-squares loss on every pair (y, y') of a prompt's answers,
  (h - c (P(y > y') - 1/2))^2 with h = log pi(y)/pi(y') - (log pi_t(y)/pi_t(y') +
  eta beta log pi_ref(y)/pi_ref(y')) / (1 + eta beta) and c = eta / (1 + eta beta), pi_t the
  policy that drew the answers; its minimiser is the KL-regularised mirror step
  pi ∝ (pi_t pi_ref^(eta beta) exp(eta P(y > pi_t)))^(1 / (1 + eta beta)), the same loss as
  the tabular ``metagame.agents.preference.inpo_regression`` on sequence log-probabilities.

``beta`` weighs KL(pi || pi_ref) to the initial model: in SPO and Nash-MD as the reward
r - beta log(pi(y) / pi_ref(y)) (the REINFORCE estimator of the KL's gradient), in INPO as
above. With ``lora`` (``{"r": 8}``...) only LoRA adapters train (``peft``) and the reference is
the same network with its adapters switched off; without, a frozen copy.

Why a plain torch loop and not RLlib's episode machinery: the answers are whole sequences drawn
by ``generate`` with its cache, while an RLlib env runner steps the duel one token per env step
and its module re-reads the whole context for each token. Measured in ``benchmarks/llm_duel.py``
(tiny GPT-2, 32 new tokens, 2 loaded cores): RLlib's token-level PPO trainer (``lm_train``)
generated 0.09x the tokens per second of TRL's Online DPO; stepping the duel token by token, even
without RLlib, made 699 tokens/s where ``generate`` made 8310 (batch 64). This loop spends most
of its time in ``generate``, as TRL does.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metagame.agents.lm.sequences import Answers, sample_answers, sequence_logprobs
from metagame.envs.preference.duel import LLMDuelEnv
from metagame.envs.preference.lm import load_causal_lm
from metagame.progress import progress

ALGORITHMS = ("spo", "nash_md", "inpo")


def policy_gradient_loss(
    logp: torch.Tensor, rewards: torch.Tensor, ref_logp: torch.Tensor | None, beta: float
) -> torch.Tensor:
    """REINFORCE on rewards - beta log(pi / pi_ref) with the per-prompt mean as baseline;
    ``logp``, ``rewards``, ``ref_logp``: (prompts, group)."""
    r = rewards
    if beta:
        r = r - beta * (logp.detach() - ref_logp)
    advantage = r - r.mean(dim=1, keepdim=True)
    return -(advantage * logp).mean()


def inpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor,
    preferences: torch.Tensor,
    eta: float,
    beta: float,
) -> torch.Tensor:
    """INPO's loss averaged over every pair i < j of each prompt's answers (module docstring);
    ``logp``... (prompts, group), ``preferences`` (prompts, group, group) with P[i, j]."""
    i, j = torch.triu_indices(logp.shape[1], logp.shape[1], 1)

    def gap(x):
        return x[:, i] - x[:, j]

    h = gap(logp) - (gap(old_logp) + eta * beta * gap(ref_logp)) / (1 + eta * beta)
    c = eta / (1 + eta * beta)
    return ((h - c * (preferences[:, i, j] - 0.5)) ** 2).mean()


def check_arguments(
    algorithm: str, group: int, prompts_per_step: int, mixture: float, beta: float, eta: float
) -> None:
    """Refuses settings no learner runs with (ValueError naming the argument)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if not isinstance(group, int) or group < (1 if algorithm == "nash_md" else 2):
        raise ValueError(f"group: {algorithm} needs more answers per prompt, got {group!r}")
    if not isinstance(prompts_per_step, int) or prompts_per_step < 1:
        raise ValueError(f"prompts_per_step must be a positive integer, got {prompts_per_step!r}")
    if not 0 <= mixture <= 1:
        raise ValueError(f"mixture must be in [0, 1], got {mixture!r}")
    if beta < 0 or eta <= 0:
        raise ValueError(f"beta must be >= 0 and eta > 0, got beta={beta!r}, eta={eta!r}")


class Reference:
    """The frozen reference policy: the LoRA model with adapters off, or a frozen copy."""

    def __init__(self, model, lora: bool):
        self.lora = lora
        self.model = model if lora else copy.deepcopy(model).requires_grad_(False).eval()

    def _context(self):
        from contextlib import nullcontext

        return self.model.disable_adapter() if self.lora else nullcontext()

    @torch.no_grad()
    def __call__(self, **inputs):
        with self._context():
            return self.model(**inputs, use_cache=True)

    @torch.no_grad()
    def logprobs(self, answers: Answers) -> torch.Tensor:
        with self._context():
            return sequence_logprobs(self.model, answers)


@dataclass
class SequenceRun:
    """What ``train_sequence_duel`` returns: per step, generated tokens (answers and opponents),
    wall seconds, loss and the sample estimate of KL(pi || pi_ref) (NaN when not computed)."""

    initial: str
    trained: str
    algorithm: str
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    reference_kl: list[float] = field(default_factory=list)


class SequenceLearner:
    """One of ``ALGORITHMS`` on ``LLMDuelEnv(**env_kwargs)``; see the module docstring."""

    def __init__(
        self,
        env_kwargs: dict[str, Any],
        algorithm: str = "spo",
        *,
        group: int = 4,
        prompts_per_step: int = 16,
        lr: float = 3e-3,
        beta: float = 0.0,
        mixture: float = 0.5,
        eta: float = 1.0,
        lora: dict[str, Any] | None = None,
        max_grad_norm: float = 1.0,
        seed: int = 0,
    ):
        if env_kwargs.get("model") is None:
            raise ValueError("env_kwargs must name a local causal LM directory under 'model'")
        check_arguments(algorithm, group, prompts_per_step, mixture, beta, eta)
        self.env = LLMDuelEnv(**env_kwargs)
        self.algorithm, self.group, self.prompts_per_step = algorithm, group, prompts_per_step
        self.beta, self.mixture, self.eta, self.max_grad_norm = beta, mixture, eta, max_grad_norm
        model, tokenizer = load_causal_lm(env_kwargs["model"])
        self.eos = int(tokenizer.eos_token_id)
        self.pad = self.eos if tokenizer.pad_token_id is None else int(tokenizer.pad_token_id)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            if lora:
                from metagame.agents.lm.lora import with_lora

                model = with_lora(model, dict(lora))
        self.model = model.eval()  # no dropout: log-probabilities of the sampling policy
        self.reference = Reference(model, lora=bool(lora))
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr)
        self.rng = np.random.default_rng(seed)
        self._encoded = [self.env.vocab.encode(p.text).tolist() for p in self.env.prompts]

    def _prompts(self) -> np.ndarray:
        n = len(self.env.prompts)
        return self.rng.choice(n, self.prompts_per_step, replace=self.prompts_per_step > n)

    def _judge(self, chosen: np.ndarray, texts: list[str]) -> np.ndarray:
        """Per prompt, the judge's matrix over its answers (and opponents): (B, k, k)."""
        k = len(texts) // len(chosen)
        return np.stack(
            [
                self.env.judge.matrix(self.env.prompts[p], texts[b * k : (b + 1) * k])
                for b, p in enumerate(chosen)
            ]
        )

    def step(self) -> dict[str, float]:
        """Samples, judges and takes one gradient step; returns its statistics."""
        B, G = self.prompts_per_step, self.group
        chosen = self._prompts()
        rows = [self._encoded[p] for p in chosen for _ in range(G)]
        opponents = self.algorithm == "nash_md"
        if opponents:  # per prompt: G answers of pi, then G of the mixture
            rows = [self._encoded[p] for p in chosen for _ in range(2 * G)]
        answers = sample_answers(
            self.model,
            rows,
            self.env.max_tokens,
            self.pad,
            self.eos,
            seed=int(self.rng.integers(2**31 - 1)),
            reference=self.reference,
            mixture_rows=[r for r in range(len(rows)) if opponents and r % (2 * G) >= G],
            mixture_weight=self.mixture,
        )
        texts = [self.env.vocab.decode(t) for t in answers.tokens()]
        P = torch.as_tensor(self._judge(chosen, texts), dtype=torch.float32)
        mine = answers
        if opponents:
            keep = torch.tensor([r for r in range(len(rows)) if r % (2 * G) < G])
            mine = Answers(answers.ids[keep], answers.mask[keep], answers.prompt_width)
        logp = sequence_logprobs(self.model, mine).view(B, G)
        needs_reference = self.beta > 0 or self.algorithm == "inpo"
        ref_logp = self.reference.logprobs(mine).view(B, G) if needs_reference else None
        if self.algorithm == "inpo":
            loss = inpo_loss(logp, logp.detach(), ref_logp, P, self.eta, self.beta)
        else:
            wins = P[:, :G, G:].mean(dim=2) if opponents else (P.sum(dim=2) - 0.5) / (G - 1)
            loss = policy_gradient_loss(logp, wins, ref_logp, self.beta)
        self.optimizer.zero_grad()
        loss.backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm)
        self.optimizer.step()
        kl = float((logp.detach() - ref_logp).mean()) if ref_logp is not None else float("nan")
        return {"tokens": answers.num_tokens, "loss": loss.item(), "reference_kl": kl}

    def trained_model(self):
        """The policy as a plain ``transformers`` model (LoRA adapters merged into a copy)."""
        if self.reference.lora:
            return copy.deepcopy(self.model).merge_and_unload()
        return self.model

    def save(self, path: str | Path) -> Path:
        """Writes the trained model and tokenizer with ``save_pretrained``: a ``model=PATH``."""
        self.trained_model().save_pretrained(path)
        self.env.tokenizer.save_pretrained(path)
        return Path(path)


def train_sequence_duel(
    env_kwargs: dict[str, Any],
    output: str | Path,
    algorithm: str = "spo",
    iterations: int = 100,
    *,
    seconds: float | None = None,
    **learner: Any,
) -> SequenceRun:
    """At most ``iterations`` steps of ``SequenceLearner(env_kwargs, algorithm, **learner)``,
    none started after ``seconds`` of training when given; the trained model is saved to
    ``output`` (with its tokenizer)."""
    trainer = SequenceLearner(env_kwargs, algorithm, **learner)
    run = SequenceRun(str(env_kwargs["model"]), str(output), algorithm)
    with progress(f"{algorithm} steps", total=iterations) as advance:
        for _ in range(iterations):
            if seconds is not None and sum(run.seconds) >= seconds:
                break
            start = time.perf_counter()
            stats = trainer.step()
            run.seconds.append(time.perf_counter() - start)
            run.tokens.append(stats["tokens"])
            run.loss.append(stats["loss"])
            run.reference_kl.append(stats["reference_kl"])
            advance()
    trainer.save(output)
    return run
