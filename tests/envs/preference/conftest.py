"""A tiny random GPT-2 with a tokenizer trained here, saved once per session (no download)."""

import pytest

from metagame.envs.preference.prompts import load_prompts
from metagame.envs.preference.tiny_lm import save_tiny_gpt2


def prompt_texts() -> list[str]:
    prompts = load_prompts()
    return [p.text for p in prompts] + [p.reference for p in prompts]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    """Path of a 2-layer, width-32 GPT-2 and its byte-level BPE tokenizer."""
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), prompt_texts(), seed=0)


@pytest.fixture(scope="session")
def tiny_reward_model(tmp_path_factory):
    """Path of a tiny GPT-2 reward model (one logit) with its own trained tokenizer."""
    directory = tmp_path_factory.mktemp("tiny_reward")
    return save_tiny_gpt2(directory, prompt_texts(), head="reward", seed=1)
