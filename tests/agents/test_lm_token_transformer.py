"""The duel's transformer policy and its supervised pre-training (no Ray)."""

import numpy as np
import pytest
import torch

from metagame.agents.lm.sft import pretrain, sft_batch
from metagame.agents.lm.token_transformer import TokenTransformer
from metagame.agents.lm.train import transformer_config, win_rate
from metagame.envs.preference.duel import LLMDuelEnv
from metagame.envs.preference.prompts import Prompt


@pytest.fixture(scope="module")
def env():
    return LLMDuelEnv()


def test_causal_and_padding_invariance(env):
    torch.manual_seed(0)
    model = TokenTransformer(transformer_config(env, d_model=16))
    obs, _ = env.reset(seed=0)
    tokens = torch.as_tensor(obs["player_0"])[None]
    logits, value = model(tokens)
    assert logits.shape == (1, env.vocab.num_actions) and value.shape == (1,)
    # changing what follows the last real token (padding positions) changes nothing: causal
    n = int((tokens != 0).sum())
    altered = tokens.clone()
    altered[0, n:] = 5
    hidden, hidden_altered = model.hidden(tokens), model.hidden(altered)
    torch.testing.assert_close(hidden[0, :n], hidden_altered[0, :n])


def test_sft_batch_targets(env):
    p = Prompt("name a red fruit", ("apple",), "an apple is red .", 5)
    x, y = sft_batch([p], env.vocab, env.context, max_tokens=6)
    assert x.shape == (6, env.context)  # five words and <eos>
    decoded = [env.vocab.tokens[int(t) + 2] for t in y]
    assert decoded == ["an", "apple", "is", "red", ".", "<eos>"]
    # each input is the prompt, <sep>, and the answer so far
    assert env.vocab.decode(x[3].numpy()[len(p.text.split()) + 1 :]) == "an apple is"
    with pytest.raises(ValueError, match="reference"):
        sft_batch([Prompt("hi")], env.vocab, env.context, 6)


def test_pretraining_imitates_references_and_wins(env):
    torch.manual_seed(0)
    base = TokenTransformer(transformer_config(env))
    tuned = TokenTransformer(base.config)
    tuned.load_state_dict(base.state_dict())
    losses = pretrain(tuned, env.prompts, env.vocab, env.max_tokens, steps=60, seed=0)
    assert losses[-1] < 0.1 * losses[0]
    # greedy decoding reproduces a reference answer
    obs, _ = env.reset(seed=0, options={"prompt": 2})
    while env.agents:
        logits, _ = tuned(torch.as_tensor(obs["player_0"])[None])
        action = int(torch.argmax(logits))
        obs, *_ = env.step({a: action for a in env.agents})
    assert env.response_text(0) == env.prompts[2].reference
    score = win_rate(tuned, base, episodes=40, seed=1)
    assert score > 0.75
    assert win_rate(base, base, episodes=40, seed=1) == pytest.approx(0.5, abs=0.15)


def test_act_is_seeded(env):
    torch.manual_seed(0)
    model = TokenTransformer(transformer_config(env, d_model=16))
    obs = np.stack([env.reset(seed=s)[0]["player_0"] for s in range(8)])
    a = model.act(obs, torch.Generator().manual_seed(3))
    b = model.act(obs, torch.Generator().manual_seed(3))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (8,) and ((0 <= a) & (a < env.vocab.num_actions)).all()
