"""A tiny randomly initialised GPT-2 with a byte-level BPE tokenizer trained on given texts.

Built entirely offline (no download) and saved with ``save_pretrained``, so that the duel, its
judges and its learners can be run and tested on a real ``transformers`` causal LM in seconds.
The architecture is GPT-2's (Radford et al., 2019); the tokenizer is byte-level BPE (Sennrich
et al., 2016) as GPT-2's, trained with ``tokenizers`` on ``texts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EOS_TOKEN = "<|endoftext|>"


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
