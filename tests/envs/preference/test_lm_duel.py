"""The LLM duel with a real transformers causal LM as its players (a tiny local GPT-2)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from pettingzoo.test import parallel_api_test

from metagame.envs import make
from metagame.envs.preference.lm import PAD, Sampling, load_causal_lm, padded, unpad


def test_spaces_and_observations_are_the_tokenizers(tiny_lm):
    env = make("llm_duel", model=str(tiny_lm), max_tokens=32)
    tokenizer = env.tokenizer
    assert env.action_space("player_0").n == len(tokenizer)
    assert env.context == env.max_prompt_tokens + 32
    obs, _ = env.reset(seed=0, options={"prompt": 3})
    ids = unpad(obs["player_0"])[0]
    assert tokenizer.decode(ids) == env.prompts[3].text
    assert (obs["player_0"][len(ids) :] == PAD).all()
    # writing "cows eat grass ." token by token, then eos, is read back as that text
    plan = [*tokenizer.encode(" cows eat grass ."), tokenizer.eos_token_id]
    for t, token in enumerate(plan):
        obs, rewards, terms, *_ = env.step({a: token for a in env.agents})
        assert not terms["player_0"] or t == len(plan) - 1
    assert env.response_text(0) == "cows eat grass ." == env.response_text(1)
    assert rewards == {"player_0": 0.0, "player_1": 0.0}


def test_api(tiny_lm):
    parallel_api_test(make("llm_duel", model=str(tiny_lm), max_tokens=32), num_cycles=40)


def play_token_by_token(env, policy, prompt):
    obs, _ = env.reset(seed=0, options={"prompt": prompt})
    while env.agents:
        actions = policy.act_batch([obs[a] for a in env.agents])
        obs, *_ = env.step(dict(zip(env.agents, actions)))
    return [env.responses[k] for k in range(env.num_players)]


def test_token_level_play_matches_cached_generation(tiny_lm):
    # top_k=1 is greedy decoding: the env's uncached, right-padded token-level play and
    # transformers' cached, left-padded batched generate must write the same tokens
    env = make("llm_duel", model=str(tiny_lm), max_tokens=48, top_k=1)
    policy = env.policy()
    prompts = [0, 4, 9]
    generated = policy.generate([env.prompts[i].text for i in prompts], max_new_tokens=48)
    for i, expected in zip(prompts, generated):
        responses = play_token_by_token(env, policy, i)
        assert responses[0] == responses[1] == expected
        assert 1 <= len(expected) <= 48


@pytest.mark.parametrize("max_tokens", [32, 128])
def test_sampled_responses_have_the_configured_length(tiny_lm, max_tokens):
    env = make("llm_duel", model=str(tiny_lm), max_tokens=max_tokens, temperature=1.5)
    policy = env.policy(seed=1)
    responses = play_token_by_token(env, policy, 2)
    assert all(1 <= len(r) <= max_tokens for r in responses)
    assert responses[0] != responses[1]  # two samples at temperature 1.5 differ
    texts = policy.generate([env.prompts[2].text] * 4, max_new_tokens=max_tokens)
    assert all(1 <= len(r) <= max_tokens for r in texts)


def test_top_k_and_top_p_restrict_the_support(tiny_lm):
    model, tokenizer = load_causal_lm(tiny_lm)
    env = make("llm_duel", model=str(tiny_lm))
    obs, _ = env.reset(seed=0, options={"prompt": 1})
    ids = torch.as_tensor(unpad(obs["player_0"])[0])[None]
    with torch.no_grad():
        probs = torch.softmax(model(ids).logits[0, -1], dim=-1).numpy()
    order = np.argsort(-probs)
    top5 = set(order[:5].tolist())
    k_policy = make("llm_duel", model=str(tiny_lm), top_k=5).policy(seed=0)
    assert set(k_policy.act_batch([obs["player_0"]] * 400).tolist()) <= top5
    # nucleus: the smallest prefix of the sorted distribution whose mass reaches top_p
    nucleus = order[: int(np.searchsorted(np.cumsum(probs[order]), 0.3)) + 1]
    p_policy = make("llm_duel", model=str(tiny_lm), top_p=0.3).policy(seed=0)
    drawn = set(p_policy.act_batch([obs["player_0"]] * 400).tolist())
    assert drawn <= set(nucleus.tolist()) and len(drawn) >= min(2, len(nucleus))


def test_seeded_policies_repeat(tiny_lm):
    env = make("llm_duel", model=str(tiny_lm))
    obs, _ = env.reset(seed=0)
    batch = [obs["player_0"]] * 16
    a, b = env.policy(seed=3), env.policy(seed=3)
    np.testing.assert_array_equal(a.act_batch(batch), b.act_batch(batch))
    assert a.generate(["what do cats eat"], 32) == b.generate(["what do cats eat"], 32)


def test_bad_arguments(tiny_lm, tmp_path):
    with pytest.raises(ValueError, match="not a local model directory"):
        make("llm_duel", model=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot load a model"):
        make("llm_duel", model=str(tmp_path))
    with pytest.raises(ValueError, match="max_tokens.*256 positions"):
        make("llm_duel", model=str(tiny_lm), max_tokens=300)
    for bad in ({"temperature": 0.0}, {"top_p": 0.0}, {"top_k": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Sampling(**bad)
    with pytest.raises(ValueError, match="model=PATH"):
        make("llm_duel").policy()


@given(
    st.lists(st.lists(st.integers(0, 300), max_size=7), min_size=1, max_size=5),
    st.sampled_from(["left", "right"]),
)
def test_padding_keeps_every_sequence(sequences, side):
    ids, mask = padded(sequences, pad=-7, side=side)
    assert ids.shape == mask.shape == (len(sequences), max(len(s) for s in sequences))
    for row, m, s in zip(ids.tolist(), mask.tolist(), sequences):
        assert sum(m) == len(s)
        assert [t for t, k in zip(row, m) if k] == s
        assert all(t == -7 for t, k in zip(row, m) if not k)
        assert m == sorted(m, reverse=side == "right")  # real tokens on one side only


def test_prompts_from_a_jsonl_file(tiny_lm, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text('{"prompt": "Name a Colour!"}\n{"prompt": "what do cows eat"}\n')
    env = make("llm_duel", model=str(tiny_lm), prompts=str(path), max_tokens=32)
    assert [p.text for p in env.prompts] == ["name a colour!", "what do cows eat"]
    obs, infos = env.reset(seed=0, options={"prompt": 0})
    assert env.tokenizer.decode(unpad(obs["player_0"])[0]) == "name a colour!"
    assert env.context == max(len(env.tokenizer.encode(p.text)) for p in env.prompts) + 32


def test_bundled_prompt_sets_by_name(tmp_path):
    from metagame.envs.preference.prompts import bundled_sets, load_prompts

    assert {"prompts", "prompts_heldout"} <= set(bundled_sets())
    assert load_prompts("bundled:prompts") == load_prompts()
    held_out = load_prompts("bundled:prompts_heldout")
    assert held_out and {p.text for p in held_out}.isdisjoint(p.text for p in load_prompts())
    with pytest.raises(ValueError, match="no bundled prompt set 'nothing'"):
        load_prompts("bundled:nothing")


def test_the_builtin_model_is_built_once_as_the_tiny_gpt2_of_the_bundled_prompts(
    tiny_lm, tmp_path, monkeypatch
):
    from metagame.envs.preference.tiny_lm import resolve_model

    monkeypatch.setenv("METAGAME_CACHE", str(tmp_path / "cache"))
    path = resolve_model("builtin:tiny-gpt2")
    assert path.parent == tmp_path / "cache" and path.is_dir()
    stamp = (path / "config.json").stat().st_mtime_ns
    assert resolve_model("builtin:tiny-gpt2") == path  # cached, not rebuilt
    assert (path / "config.json").stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no scratch left behind
    env = make("llm_duel", model="builtin:tiny-gpt2", max_tokens=8)
    built, _ = load_causal_lm("builtin:tiny-gpt2")
    same, tokenizer = load_causal_lm(tiny_lm)  # the same recipe: the bundled prompts, seed 0
    assert env.tokenizer.get_vocab() == tokenizer.get_vocab()
    for a, b in zip(built.state_dict().values(), same.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="no built-in model 'huge'"):
        resolve_model("builtin:huge")


def test_a_causal_lm_policy_checkpoint_round_trips(tiny_lm, tmp_path):
    from metagame.agents.policy import load_policy, save_policy

    env = make("llm_duel", model=str(tiny_lm), temperature=0.7, top_k=20)
    policy = env.policy(seed=5, id="writer")
    save_policy(policy, tmp_path / "player")
    loaded = load_policy(tmp_path / "player")
    assert (loaded.kind, loaded.id, loaded.seed) == ("causal_lm", "writer", 5)
    assert loaded.sampling == env.sampling
    prompts = [p.text for p in env.prompts]
    policy.reset(11)
    loaded.reset(11)
    assert loaded.generate(prompts, 16) == policy.generate(prompts, 16)
    again = make("llm_duel", model=str(tmp_path / "player"))  # a checkpoint is a model=PATH
    assert again.tokenizer.get_vocab() == env.tokenizer.get_vocab()
    meta = (tmp_path / "player" / "policy.json").read_text()
    (tmp_path / "player" / "policy.json").write_text(meta.replace('"top_k"', '"top_q"'))
    with pytest.raises(ValueError, match="key 'sampling'"):
        load_policy(tmp_path / "player")
