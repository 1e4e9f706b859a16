"""A tiny randomly initialised GPT-2 with a byte-level BPE tokenizer trained on given texts.

Built entirely offline (no download) and saved with ``save_pretrained``, so that the duel, its
judges and its learners can be run and tested on a real ``transformers`` causal LM in seconds.
The architecture is GPT-2's (Radford et al., 2019); the tokenizer is byte-level BPE (Sennrich
et al., 2016) as GPT-2's, trained with ``tokenizers`` on ``texts``.

``model="builtin:tiny-gpt2"`` (wherever a local model directory is expected: the duel, its
judges, its learners, a league config) names the tiny GPT-2 of the bundled prompt set (2 layers
of width 32, seed 0): :func:`resolve_model` builds it once, offline, into metagame's cache
directory (``$METAGAME_CACHE``, by default ``~/.cache/metagame``) and returns its path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

EOS_TOKEN = "<|endoftext|>"
BUILTIN = "builtin:"
BUILTIN_MODELS = ("tiny-gpt2",)
CACHE_VERSION = 1  # bump when the built-in model's recipe changes


def train_tokenizer(texts: Iterable[str], vocab_size: int = 320):
    """A ``PreTrainedTokenizerFast`` (byte-level BPE, ``eos = pad = <|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=EOS_TOKEN
    )


def save_tiny_gpt2(
    directory: str | Path,
    texts: Iterable[str],
    *,
    layers: int = 2,
    width: int = 32,
    heads: int = 2,
    positions: int = 256,
    vocab_size: int = 320,
    head: str = "lm",
    seed: int = 0,
) -> Path:
    """Writes a random GPT-2 (``layers`` blocks of ``width``) and its tokenizer to ``directory``:
    a language model (``head="lm"``) or a one-logit reward model (``head="reward"``)."""
    import torch
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    model_class = {"lm": GPT2LMHeadModel, "reward": GPT2ForSequenceClassification}
    if head not in model_class:
        raise ValueError(f"head must be 'lm' or 'reward', got {head!r}")

    tokenizer = train_tokenizer(texts, vocab_size)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=positions,
        n_embd=width,
        n_layer=layers,
        n_head=heads,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.eos_token_id,
        num_labels=1,
    )
    torch.manual_seed(seed)
    model = model_class[head](config)
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def cache_dir() -> Path:
    """metagame's cache directory: ``$METAGAME_CACHE`` or ``~/.cache/metagame``."""
    return Path(os.environ.get("METAGAME_CACHE") or Path.home() / ".cache" / "metagame")


def resolve_model(model: str | Path) -> Path:
    """The directory of ``model``: a path as given, or the built-in ``builtin:tiny-gpt2``
    (built on first use; concurrent builders each write a private directory and the first
    rename wins, so no reader sees a half-written model)."""
    if not (isinstance(model, str) and model.startswith(BUILTIN)):
        return Path(model)
    name = model.removeprefix(BUILTIN)
    if name not in BUILTIN_MODELS:
        raise ValueError(
            f"model: no built-in model {name!r} (built-in: {', '.join(BUILTIN_MODELS)})"
        )
    target = cache_dir() / f"{name}-v{CACHE_VERSION}"
    if target.is_dir():
        return target
    from metagame.envs.preference.prompts import load_prompts

    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    texts = [t for p in load_prompts() for t in (p.text, p.reference)]
    save_tiny_gpt2(scratch, texts, seed=0)
    try:
        scratch.rename(target)
    except OSError:  # another process built it first
        shutil.rmtree(scratch, ignore_errors=True)
    return target
