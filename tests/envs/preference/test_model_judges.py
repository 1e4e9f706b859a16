"""Judges from local transformers models and from a user's function: batched, cached."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from metagame.envs import make
from metagame.envs.preference.judges import (
    CallableJudge,
    LMJudge,
    RewardModelJudge,
    make_judge,
)
from metagame.envs.preference.models import bradley_terry
from metagame.envs.preference.prompts import Prompt

PROMPT = Prompt("what do cats eat", ("fish",), "cats eat fish .", 4)
ANSWERS = ["cats eat fish .", "fish", "the sky is blue .", "cows eat grass and hay .", "red"]


def test_reward_model_scores_batched_equal_one_by_one(tiny_reward_model):
    judge = RewardModelJudge(tiny_reward_model, batch_size=2)
    scores = judge.scores(PROMPT, ANSWERS)
    for answer, score in zip(ANSWERS, scores):
        ids = judge.tokenizer(f"{PROMPT.text}\n{answer}", return_tensors="pt").input_ids
        with torch.no_grad():
            expected = judge.model(input_ids=ids).logits[0, 0].item()
        assert score == pytest.approx(expected, abs=1e-5)
    assert len(set(np.round(scores, 6))) == len(ANSWERS)  # a random model separates them
    P = judge.matrix(PROMPT, ANSWERS)
    np.testing.assert_allclose(P, bradley_terry(scores))
    assert judge.compare(PROMPT, ANSWERS[0], ANSWERS[1]) == pytest.approx(P[0, 1])
    assert len(judge.cache) == len(ANSWERS) and judge.cache.misses == len(ANSWERS)


def label_logprob(model, tokenizer, context: str, label: str) -> float:
    """log p(label | context), one token at a time without padding or batching."""
    ids = tokenizer.encode(context)
    total = 0.0
    for token in tokenizer.encode(label):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1].double()
        total += torch.log_softmax(logits, -1)[token].item()
        ids.append(token)
    return total


def test_lm_judge_reads_the_label_probabilities(tiny_lm):
    judge = LMJudge(tiny_lm, batch_size=3)
    a, b = ANSWERS[0], ANSWERS[3]
    lp = {}
    for order, (x, y) in (("ab", (a, b)), ("ba", (b, a))):
        context = judge.template.format(prompt=PROMPT.text, a=x, b=y)
        lp[order] = [
            label_logprob(judge.model, judge.tokenizer, context, lab) for lab in (" A", " B")
        ]
    first = lambda v: 1 / (1 + np.exp(v[1] - v[0]))  # noqa: E731
    expected = 0.5 * (first(lp["ab"]) + 1 - first(lp["ba"]))
    assert judge.compare(PROMPT, a, b) == pytest.approx(expected, abs=1e-9)
    assert judge.compare(PROMPT, b, a) == pytest.approx(1 - expected, abs=1e-12)
    assert judge.cache.misses == 1 and judge.cache.hits == 1  # the swapped pair was cached
    P = judge.matrix(PROMPT, ANSWERS)
    np.testing.assert_allclose(P + P.T, 1.0)
    np.testing.assert_allclose(np.diag(P), 0.5)
    assert judge.compare(PROMPT, a, a) == pytest.approx(0.5, abs=1e-12)  # order-debiased
    assert P[0, 3] == pytest.approx(expected, abs=1e-9)


def test_callable_judge_batches_and_caches():
    calls = []

    def shorter_wins(prompt, a, b):
        calls.append((a, b))
        return float(len(a) < len(b)) if len(a) != len(b) else 0.5

    judge = make_judge(shorter_wins)
    P = judge.matrix(PROMPT, ANSWERS)
    lengths = np.array([len(x) for x in ANSWERS])
    np.testing.assert_array_equal(P, 0.5 + 0.5 * np.sign(lengths[None] - lengths[:, None]))
    assert len(calls) == 10
    judge.matrix(PROMPT, ANSWERS[::-1])
    assert len(calls) == 10 and judge.cache.hits == 10

    def batched(prompt, a, b):
        return (np.array([len(x) for x in a]) < np.array([len(x) for x in b])).astype(float)

    np.testing.assert_array_equal(CallableJudge(batched, batched=True).matrix(PROMPT, ANSWERS), P)
    with pytest.raises(ValueError, match="numbers in \\[0, 1\\]"):
        CallableJudge(lambda p, a, b: 2.0).compare(PROMPT, "x", "y")
    with pytest.raises(ValueError, match="not callable"):
        CallableJudge(3)


def test_judges_by_name_in_an_lm_duel(tiny_lm, tiny_reward_model, tmp_path):
    assert isinstance(make_judge(f"reward:{tiny_reward_model}"), RewardModelJudge)
    with pytest.raises(ValueError, match="pairwise judge: .* not a local model directory"):
        make_judge(f"pairwise:{tmp_path / 'nothing'}")
    with pytest.raises(ValueError, match="unknown judge"):
        make_judge("reward:")
    env = make("llm_duel", model=str(tiny_lm), judge=f"pairwise:{tiny_lm}", max_tokens=32)
    policy = env.policy(seed=0)
    obs, _ = env.reset(seed=0)
    while env.agents:
        obs, rewards, *_ = env.step(dict(zip(env.agents, policy.act_batch(list(obs.values())))))
    P = env.judge.matrix(env.prompt, [env.response_text(0), env.response_text(1)])
    assert rewards["player_0"] == pytest.approx(2 * (P[0, 1] - 0.5))
    assert rewards["player_0"] + rewards["player_1"] == pytest.approx(0.0)


@given(st.lists(st.text(max_size=6), min_size=2, max_size=6, unique=True))
def test_pairwise_judges_are_antisymmetric(answers):
    # an order-dependent function: its cached judge still gives P + P^T = 1
    judge = CallableJudge(lambda p, a, b: sum(map(ord, a + "|" + b)) * (len(a) + 1) % 1000 / 999)
    P = judge.matrix(PROMPT, answers)
    np.testing.assert_allclose(P + P.T, 1.0)
    for i, a in enumerate(answers):
        for j, b in enumerate(answers):
            if i != j:
                assert judge.compare(PROMPT, a, b) == pytest.approx(P[i, j])
