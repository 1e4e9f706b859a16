"""A transformers causal LM (a tiny random GPT-2 built here) trained in the duel through RLlib."""

import numpy as np
import pytest
import torch

from metagame.envs import make
from metagame.envs.preference.lm import CausalLMPolicy, load_causal_lm
from metagame.envs.preference.prompts import load_prompts
from metagame.envs.preference.tiny_lm import save_tiny_gpt2


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    prompts = load_prompts()
    texts = [p.text for p in prompts] + [p.reference for p in prompts]
    return save_tiny_gpt2(tmp_path_factory.mktemp("tiny_gpt2"), texts, seed=0)


def more_a(prompt, a, b):
    """Pr(a > b) of a judge that prefers the answer with more letters 'a'."""
    return float(np.sign(a.count("a") - b.count("a")) + 1) / 2


def test_module_reads_the_model_at_the_last_real_token(tiny_lm):
    from ray.rllib.core.columns import Columns

    from metagame.agents.duel.lm_module import LMDuelRLModule

    env = make("llm_duel", model=str(tiny_lm), max_tokens=32)
    module = LMDuelRLModule(
        observation_space=env.observation_space("player_0"),
        action_space=env.action_space("player_0"),
        model_config={"model": str(tiny_lm)},
    )
    rows = [env.reset(seed=0, options={"prompt": i})[0]["player_0"] for i in (0, 4, 9)]
    batch = {Columns.OBS: torch.as_tensor(np.stack(rows)).float()}  # RLlib hands floats
    logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    model, _ = load_causal_lm(tiny_lm)
    for row, got in zip(rows, logits):
        ids = torch.as_tensor(row[row >= 0])[None]
        with torch.no_grad():
            expected = model(input_ids=ids).logits[0, -1]
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(module.reference_logits(batch), logits)
    assert all(not p.requires_grad for p in module.reference.parameters())
    assert module.compute_values(batch).shape == (3,)


@pytest.mark.slow
def test_spo_with_reference_kl_beats_the_initial_model(tiny_lm, tmp_path):
    from metagame.agents.duel.lm_train import lm_win_rate, train_lm_duel

    torch.set_num_threads(1)
    kwargs = {"model": str(tiny_lm), "max_tokens": 32, "num_players": 4, "judge": more_a}
    run = train_lm_duel(
        kwargs,
        tmp_path / "trained",
        iterations=6,
        ref_kl_coeff=0.02,
        train_batch_size_per_learner=256,
        minibatch_size=128,
        num_epochs=2,
        lr=3e-3,
    )
    assert len(run.reference_kl) == 6 and run.reference_kl[-1] > run.reference_kl[0] > 0
    env = make("llm_duel", **{**kwargs, "num_players": 2})
    initial, tokenizer = load_causal_lm(tiny_lm)
    trained, _ = load_causal_lm(run.trained)
    score, half_width = lm_win_rate(
        CausalLMPolicy(trained, tokenizer, seed=1),
        CausalLMPolicy(initial, tokenizer, seed=2),
        env,
        episodes=128,
    )
    print(f"trained vs initial win rate: {score:.3f} +- {half_width:.3f}")
    assert score - half_width > 0.5 and score > 0.6
    same, _ = lm_win_rate(
        CausalLMPolicy(initial, tokenizer, seed=3),
        CausalLMPolicy(initial, tokenizer, seed=4),
        env,
        episodes=128,
    )
    assert same == pytest.approx(0.5, abs=0.1)


def test_lora_trains_adapters_only_and_merges(tiny_lm):
    from ray.rllib.core.columns import Columns

    from metagame.agents.duel.lm_module import LMDuelRLModule

    env = make("llm_duel", model=str(tiny_lm), max_tokens=32)
    module = LMDuelRLModule(
        observation_space=env.observation_space("player_0"),
        action_space=env.action_space("player_0"),
        model_config={"model": str(tiny_lm), "lora": {"r": 4, "alpha": 8}},
    )
    trainable = [n for n, p in module.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n or n.startswith("value_head") for n in trainable)
    rows = [env.reset(seed=0, options={"prompt": i})[0]["player_0"] for i in (1, 7)]
    batch = {Columns.OBS: torch.as_tensor(np.stack(rows)).float()}
    initial = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(module.reference_logits(batch), initial)  # B = 0 at the start
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(0))
    moved = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    assert (moved - initial).abs().max() > 1e-3
    torch.testing.assert_close(module.reference_logits(batch), initial)  # adapters switched off
    merged = module.merged()
    for row, expected in zip(rows, moved):
        ids = torch.as_tensor(row[row >= 0])[None]
        with torch.no_grad():
            torch.testing.assert_close(
                merged(input_ids=ids).logits[0, -1], expected, atol=1e-4, rtol=1e-4
            )
    with pytest.raises(ValueError, match="lora: unknown keys"):
        LMDuelRLModule(
            observation_space=env.observation_space("player_0"),
            action_space=env.action_space("player_0"),
            model_config={"model": str(tiny_lm), "lora": {"rank": 4}},
        )
