"""Hugging Face causal language models as players of the LLM duel.

``load_causal_lm(path)`` reads a ``transformers`` causal LM and its tokenizer from a local
directory with ``local_files_only=True``: nothing is fetched at run time (``builtin:tiny-gpt2``
names a tiny GPT-2 built offline, ``tiny_lm.resolve_model``).

``TokenizerVocabulary`` makes the tokenizer the duel's vocabulary. The game stays token-level:
action ``a`` is token id ``a`` (``Discrete(vocab_size)``), the tokenizer's ``eos_token_id`` ends a
response, and an observation is ``[prompt ids, response ids so far, -1, ...]`` (``-1`` pads, so
every real token id, including a tokenizer's pad id, stays distinct from padding).

``CausalLMPolicy`` plays the duel with the model: next tokens sampled with temperature, top-k
(Fan et al., 2018) and nucleus top-p (Holtzman et al., 2020) through ``transformers``' own
logits warpers, either token by token from observations (``act_batch``, a metagame ``Policy``)
or whole responses with the key/value cache (``generate``), which draws from the same
distribution. As a policy checkpoint (``metagame.agents.policy.save_policy``, kind
``causal_lm``) it is its model and tokenizer written with ``save_pretrained`` beside
``policy.json``, which holds the sampling controls; so a checkpoint is also a ``model=PATH``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

PAD = -1  # observation padding of tokenizer-level duels


@dataclass(frozen=True)
class Sampling:
    """Sampling controls: ``top_k=0`` and ``top_p=1`` switch those filters off."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0

    def __post_init__(self):
        if not (np.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be a non-negative integer, got {self.top_k!r}")

    def warpers(self):
        """The ``transformers`` logits processors that ``generate`` applies for these controls."""
        from transformers import (
            LogitsProcessorList,
            TemperatureLogitsWarper,
            TopKLogitsWarper,
            TopPLogitsWarper,
        )

        chain = LogitsProcessorList()
        if self.temperature != 1.0:
            chain.append(TemperatureLogitsWarper(self.temperature))
        if self.top_k:
            chain.append(TopKLogitsWarper(self.top_k))
        if self.top_p < 1.0:
            chain.append(TopPLogitsWarper(self.top_p))
        return chain

    def generate_kwargs(self) -> dict[str, Any]:
        controls = {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}
        return {"do_sample": True, **controls}


def load_local(path: str | Path, kind: str, loader):
    """(model, tokenizer) of a directory saved with ``save_pretrained``, a model in eval mode;
    ``loader`` is a ``transformers`` auto class (``AutoConfig`` reads only the configuration).
    Nothing is fetched; errors name ``kind`` and the path."""
    import torch
    from transformers import AutoTokenizer

    from metagame.envs.preference.tiny_lm import resolve_model

    path = resolve_model(path)
    if not path.is_dir():
        raise ValueError(f"{kind}: {path} is not a local model directory")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = loader.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"{kind}: cannot load a model from {path}: {error}") from None
    if isinstance(model, torch.nn.Module):
        model.eval()
    return model, tokenizer


def padded(sequences: Sequence[Sequence[int]], pad: int, side: str = "left"):
    """(ids, attention mask) tensors of token-id sequences padded with ``pad`` on ``side``."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), int(pad), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for k, s in enumerate(sequences):
        where = slice(0, len(s)) if side == "right" else slice(width - len(s), width)
        ids[k, where] = torch.as_tensor(np.asarray(s, dtype=np.int64))
        mask[k, where] = 1
    return ids, mask


def load_causal_lm(path: str | Path, config_only: bool = False):
    """(model, tokenizer) of a local causal LM directory (its tokenizer must have an eos); with
    ``config_only`` the model's configuration instead of its weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    loader = AutoConfig if config_only else AutoModelForCausalLM
    model, tokenizer = load_local(path, "model", loader)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"model: the tokenizer in {path} has no eos_token")
    return model, tokenizer


def context_limit(config) -> int | None:
    """The longest sequence a model configuration's positions cover (None when unbounded)."""
    for name in ("n_positions", "max_position_embeddings"):
        if getattr(config, name, None):
            return int(getattr(config, name))
    return None


class TokenizerVocabulary:
    """A tokenizer seen as the duel's vocabulary (the interface of ``prompts.Vocabulary``)."""

    pad_id = PAD
    separator: tuple[int, ...] = ()

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.eos_id = int(tokenizer.eos_token_id)
        self.size = len(tokenizer)

    def __len__(self) -> int:
        return self.size

    @property
    def num_actions(self) -> int:
        return self.size

    def token_of(self, action: int) -> int:
        return int(action)

    def encode(self, text: str) -> np.ndarray:
        return np.array(self.tokenizer.encode(text, add_special_tokens=False), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids`` up to the first ``eos`` (padding skipped)."""
        kept = []
        for i in ids:
            if int(i) == self.eos_id:
                break
            if int(i) != PAD:
                kept.append(int(i))
        return self.tokenizer.decode(kept, skip_special_tokens=True).strip()


def unpad(observations: np.ndarray) -> list[np.ndarray]:
    """The token ids of each observation row (padding dropped)."""
    return [row[row != PAD] for row in np.atleast_2d(observations)]


class CausalLMPolicy:
    """A causal LM playing the duel; see the module docstring."""

    def __init__(
        self,
        model,
        tokenizer,
        sampling: Sampling = Sampling(),
        seed: int | None = 0,
        id: str = "causal_lm",
    ):
        import torch

        self.model, self.tokenizer, self.sampling = model, tokenizer, sampling
        self.warpers = sampling.warpers()
        self.eos_id = int(tokenizer.eos_token_id)
        pad = tokenizer.pad_token_id
        self.pad_id = self.eos_id if pad is None else int(pad)
        self.seed, self.id = seed, id
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)

    def reset(self, seed: int | None = None) -> None:
        self.generator.manual_seed(self.seed if seed is None else seed)

    def next_token_scores(self, sequences: Sequence[Sequence[int]]):
        """Warped next-token log-scores (B, vocab) after each token sequence."""
        import torch

        ids, mask = padded(sequences, self.pad_id)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        return self.warpers(ids, logits[:, -1, :].float())

    def act_batch(self, observations: Sequence[Any], action_masks=None) -> np.ndarray:
        import torch

        scores = self.next_token_scores(unpad(np.stack(observations)))
        probs = torch.softmax(scores, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).numpy()

    def act(self, observation: Any, action_mask: np.ndarray | None = None) -> int:
        return int(self.act_batch([observation])[0])

    kind = "causal_lm"

    def _checkpoint(self, path: Path) -> dict[str, Any]:
        """Writes the model and tokenizer into ``path``; returns the sampling controls."""
        self.model.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return {"sampling": asdict(self.sampling)}

    @classmethod
    def _from_checkpoint(cls, meta: dict[str, Any], meta_file: Path, seed, greedy, id: str):
        """The policy of a checkpoint directory (a causal LM always samples: ``greedy`` does
        not apply); errors name the file."""
        controls = meta.get("sampling")
        if not isinstance(controls, dict) or set(controls) - {"temperature", "top_p", "top_k"}:
            raise ValueError(f"policy checkpoint {meta_file}: key 'sampling' is malformed")
        try:
            sampling = Sampling(**controls)
        except (TypeError, ValueError) as err:
            raise ValueError(f"policy checkpoint {meta_file}: key 'sampling': {err}") from None
        model, tokenizer = load_causal_lm(meta_file.parent)
        return cls(model, tokenizer, sampling, seed=seed, id=id)

    def generate(self, prompts: Sequence[str], max_new_tokens: int) -> list[list[int]]:
        """One sampled response per prompt: token ids, ending with ``eos`` if it was drawn."""
        import torch

        encoded = [self.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
        ids, mask = padded(encoded, self.pad_id)
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
        with torch.random.fork_rng(), torch.no_grad():
            torch.manual_seed(seed)
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                pad_token_id=self.pad_id,
                eos_token_id=self.eos_id,
                **self.sampling.generate_kwargs(),
            )
        responses = []
        for row in out[:, ids.shape[1] :].tolist():
            end = row.index(self.eos_id) + 1 if self.eos_id in row else len(row)
            responses.append(row[:end])
        return responses
