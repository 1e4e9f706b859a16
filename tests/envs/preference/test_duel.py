import json

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from metagame.envs import make
from metagame.envs.preference.judges import RulePanel, format_score, keyword_score, length_score
from metagame.envs.preference.prompts import Prompt, Vocabulary, load_prompts


@pytest.mark.parametrize("num_players", [2, 3])
def test_api_and_seed(num_players):
    parallel_api_test(make("llm_duel", num_players=num_players), num_cycles=200)
    parallel_seed_test(
        lambda: make("llm_duel", num_players=num_players, stochastic=True), num_cycles=200
    )


def write(env, text):
    return [env.vocab.index[w] - 2 for w in text.split()] + [0]  # + <eos>


def play(env, texts, prompt=0):
    obs, _ = env.reset(seed=0, options={"prompt": prompt})
    plans = [write(env, t) for t in texts]
    t = 0
    while env.agents:
        actions = {a: plans[k][min(t, len(plans[k]) - 1)] for k, a in enumerate(env.agents)}
        obs, rewards, *_ = env.step(actions)
        t += 1
    return obs, rewards


def test_judged_duel_is_zero_sum_and_observes_tokens():
    env = make("llm_duel", max_tokens=8)
    prompt = env.prompts[0]
    good = prompt.reference
    obs, rewards = play(env, [good, "red red"])
    assert rewards == {"player_0": 1.0, "player_1": -1.0}
    ids = obs["player_0"]
    n = len(prompt.text.split())
    assert env.vocab.decode(ids[:n]) == prompt.text and env.vocab.tokens[ids[n]] == "<sep>"
    assert env.vocab.decode(ids[n + 1 :]) == good


def test_group_reward_is_win_rate():
    env = make("llm_duel", num_players=3, max_tokens=8)
    ref = env.prompts[0].reference
    _, rewards = play(env, [ref, "red red", "red red"])
    # player_0 beats both; the other two tie: win rates 1, 1/4, 1/4 -> rewards 1, -1/2, -1/2
    assert rewards == pytest.approx({"player_0": 1.0, "player_1": -0.5, "player_2": -0.5})
    assert sum(rewards.values()) == pytest.approx(0.0)
    assert env.render().shape[2] == 3


def test_rule_panel_is_intransitive():
    p = Prompt("name a red fruit", ("apple", "cherry"), "an apple is red .", 5)
    x, y, z = "red apple cherry", "red apple is red is", "it is so ."
    scores = [(keyword_score(p, r), length_score(p, r), format_score(p, r)) for r in (x, y, z)]
    assert scores == [(2, -2, 1), (1, 0, 0), (0, -1, 3)]
    P = RulePanel().matrix(p, [x, y, z])
    np.testing.assert_array_equal(P, [[0.5, 1, 0], [0, 0.5, 1], [1, 0, 0.5]])  # x > y > z > x
    assert RulePanel(["keyword"]).compare(p, z, x) == 0.0
    with pytest.raises(ValueError, match="criterion"):
        RulePanel(["brevity"])


def test_prompt_file_errors_name_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "hi"}) + "\n" + json.dumps({"keywords": []}) + "\n")
    with pytest.raises(ValueError, match="line 2: missing field prompt"):
        load_prompts(path)
    path.write_text(json.dumps({"prompt": "hi", "keywords": "x"}) + "\n")
    with pytest.raises(ValueError, match="line 1: keywords"):
        load_prompts(path)
    with pytest.raises(ValueError, match="unknown judge"):
        make("llm_duel", judge="oracle")


def test_vocabulary_round_trip():
    prompts = load_prompts()
    vocab = Vocabulary.from_prompts(prompts)
    for p in prompts:
        assert vocab.decode(vocab.encode(p.reference)) == p.reference
    with pytest.raises(ValueError, match="zebra"):
        vocab.encode("a zebra")
