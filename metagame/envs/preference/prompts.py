"""Prompt sets and the word-level vocabulary of the token duel.

A prompt file is JSONL with one object per line: ``prompt`` (text), and optionally
``keywords`` (words a good answer mentions), ``reference`` (an answer, used for supervised
pre-training and by model judges) and ``length`` (the target answer length in tokens).
Text is lower-cased and split on whitespace; punctuation is written as separate tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from metagame.envs.preference.jsonl import jsonl_records

PAD, SEP, EOS = "<pad>", "<sep>", "<eos>"


BUNDLED = "bundled:"  # names a prompt set shipped with metagame: bundled:prompts


def bundled_sets() -> list[str]:
    """The names of the prompt sets shipped with metagame."""
    return sorted(p.name.removesuffix(".jsonl") for p in _data().glob("*.jsonl"))


def _data() -> Path:
    return Path(str(resources.files("metagame") / "data" / "preference"))


def default_prompts_path() -> Path:
    """The small prompt set shipped with metagame (``bundled:prompts``); ``bundled:
    prompts_heldout`` holds prompts of the same kind that it does not contain, for evaluating
    on prompts a learner never trained on."""
    return _data() / "prompts.jsonl"


def prompts_path(name: str | Path | None) -> Path:
    """The file of a prompt set: a path, ``bundled:NAME`` or None (the default set)."""
    if name is None:
        return default_prompts_path()
    if isinstance(name, str) and name.startswith(BUNDLED):
        set_name = name.removeprefix(BUNDLED)
        if set_name not in bundled_sets():
            raise ValueError(
                f"prompts: no bundled prompt set {set_name!r} "
                f"(bundled: {', '.join(bundled_sets())})"
            )
        return _data() / f"{set_name}.jsonl"
    return Path(name)


def tokenize(text: str) -> list[str]:
    return text.lower().split()


@dataclass(frozen=True)
class Prompt:
    text: str
    keywords: tuple[str, ...] = ()
    reference: str = ""
    length: int = 5


def load_prompts(path: str | Path | None = None) -> list[Prompt]:
    """Reads a prompt file (or ``bundled:NAME``, see :func:`prompts_path`); a malformed line
    raises ValueError naming the file and line."""
    path = prompts_path(path)
    if not path.is_file():
        raise ValueError(f"prompt file not found: {path}")
    prompts = []
    for number, record in jsonl_records(path):
        if not str(record.get("prompt", "")).strip():
            raise ValueError(f"{path}: line {number}: missing field prompt")
        keywords = record.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            raise ValueError(f"{path}: line {number}: keywords must be a list of strings")
        length = record.get("length", 5)
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"{path}: line {number}: length must be a positive integer")
        prompts.append(
            Prompt(
                " ".join(tokenize(record["prompt"])),
                tuple(k.lower() for k in keywords),
                " ".join(tokenize(str(record.get("reference", "")))),
                length,
            )
        )
    if not prompts:
        raise ValueError(f"{path}: no prompts")
    return prompts


class Vocabulary:
    """Word-level vocabulary: ids 0, 1, 2 are <pad>, <sep>, <eos>; words follow, sorted.

    Generated tokens are <eos> and the words, so action ``a`` is token id ``a + 2``.
    """

    pad_id = 0

    def __init__(self, words: Iterable[str]):
        self.tokens = [PAD, SEP, EOS, *sorted(set(words) - {PAD, SEP, EOS})]
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.eos_id = self.index[EOS]
        self.separator = (self.index[SEP],)

    @classmethod
    def from_prompts(cls, prompts: Sequence[Prompt]) -> Vocabulary:
        words = set()
        for p in prompts:
            words.update(tokenize(p.text), tokenize(p.reference), p.keywords)
        return cls(words)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def num_actions(self) -> int:
        return len(self.tokens) - 2

    def token_of(self, action: int) -> int:
        return int(action) + 2

    def encode(self, text: str) -> np.ndarray:
        unknown = [w for w in tokenize(text) if w not in self.index]
        if unknown:
            raise ValueError(f"words not in the vocabulary: {', '.join(unknown)}")
        return np.array([self.index[w] for w in tokenize(text)], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        """Words of ``ids``, stopping at <eos> and skipping <pad>/<sep>."""
        words = []
        for i in ids:
            token = self.tokens[int(i)]
            if token == EOS:
                break
            if token not in (PAD, SEP):
                words.append(token)
        return " ".join(words)
