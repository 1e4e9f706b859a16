"""A transformers causal LM (a tiny random GPT-2 built here) trained in the duel: token-level
through RLlib, and by the sequence-level learners (SPO, Nash-MD, INPO)."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

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


def score(env, tokenizer, model, opponent, seeds):
    """``lm_win_rate`` of ``model`` against ``opponent`` (their policies seeded by ``seeds``)
    over 128 prompts of ``env``."""
    from metagame.agents.lm.lm_train import lm_win_rate

    policies = [CausalLMPolicy(m, tokenizer, seed=s) for m, s in zip((model, opponent), seeds)]
    return lm_win_rate(*policies, env, episodes=128)


def test_module_reads_the_model_at_the_last_real_token(tiny_lm):
    from ray.rllib.core.columns import Columns

    from metagame.agents.lm.lm_module import LMDuelRLModule

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
    from metagame.agents.lm.lm_train import train_lm_duel

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
    win = score(env, tokenizer, trained, initial, seeds=(1, 2))
    print(f"trained vs initial win rate: {win.format(signed=False)}")
    assert win.low > 0.5 and win.estimate > 0.6
    same = score(env, tokenizer, initial, initial, seeds=(3, 4))
    assert same.estimate == pytest.approx(0.5, abs=0.1) and same.low < 0.5 < same.high


def test_lora_trains_adapters_only_and_merges(tiny_lm):
    from ray.rllib.core.columns import Columns

    from metagame.agents.lm.lm_module import LMDuelRLModule

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


def sampled(tiny_lm, rows=((3, 4, 5), (7,), (9, 10)), seed=0, **mixture):
    from metagame.agents.lm.sequences import sample_answers

    model, tokenizer = load_causal_lm(tiny_lm)
    eos = tokenizer.eos_token_id
    return model, sample_answers(model, [list(r) for r in rows], 12, eos, eos, seed, **mixture)


def test_sequence_logprobs_sum_the_token_logprobs_of_each_answer(tiny_lm):
    from metagame.agents.lm.sequences import sequence_logprobs

    model, answers = sampled(tiny_lm)
    again = sampled(tiny_lm)[1]
    assert torch.equal(answers.ids, again.ids)  # the seed fixes the draw
    got = sequence_logprobs(model, answers)
    assert got.requires_grad
    prompts = ((3, 4, 5), (7,), (9, 10))
    for prompt, answer, value in zip(prompts, answers.tokens(), got):
        ids = torch.tensor([[*prompt, *answer]])  # unpadded, alone
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        expected = torch.log_softmax(logits, -1)[torch.arange(len(answer)), answer].sum()
        torch.testing.assert_close(value.detach(), expected, atol=1e-4, rtol=1e-5)
    assert answers.num_tokens == sum(len(t) for t in answers.tokens())


@given(st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=8), min_size=1, max_size=5))
def test_answer_mask_keeps_tokens_up_to_the_first_eos(rows):
    from metagame.agents.lm.sequences import answer_mask

    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    mask = answer_mask(ids, eos=0)
    for row, m in zip(ids.tolist(), mask.tolist()):
        end = row.index(0) + 1 if 0 in row else len(row)
        assert m == [1] * end + [0] * (len(row) - end)


def test_geometric_mixture_matches_full_context_log_probabilities(tiny_lm, tmp_path):
    """The processor's cached reference passes give (1 - w) log pi + w log pi_ref on its rows,
    as recomputed from the whole left-padded context, and leave the other rows alone."""
    from metagame.agents.lm.sequences import GeometricMixture, positions
    from metagame.envs.preference.lm import padded

    other = save_tiny_gpt2(tmp_path / "ref", [p.text for p in load_prompts()], seed=5)
    policy, _ = load_causal_lm(tiny_lm)
    reference, _ = load_causal_lm(other)
    ids, mask = padded([[3, 4, 5], [7], [9, 10]], pad=0)
    mix = GeometricMixture(lambda **kw: reference(**kw, use_cache=True), mask, [0, 2], 0.3)
    for new in ([11, 12, 13], [14, 15, 16], None):
        full_mask = torch.cat([mask, mask.new_ones(3, ids.shape[1] - mask.shape[1])], 1)
        with torch.no_grad():
            kw = {
                "input_ids": ids,
                "attention_mask": full_mask,
                "position_ids": positions(full_mask),
            }
            scores = policy(**kw).logits[:, -1]
            ref = torch.log_softmax(reference(**kw).logits[:, -1], -1)
        got = mix(ids, scores)
        expected = 0.7 * torch.log_softmax(scores, -1) + 0.3 * ref
        torch.testing.assert_close(got[[0, 2]], expected[[0, 2]], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(got[1], scores[1])
        if new is not None:
            ids = torch.cat([ids, torch.tensor(new)[:, None]], dim=1)


def test_inpo_loss_minimiser_is_the_tabular_inpo_step():
    """On a one-prompt 'policy' over K answers (logits theta), minimising the INPO loss over all
    pairs gives the mirror step of the tabular learner (an independent least-squares solve)."""
    from metagame.agents.lm.sequence_learner import inpo_loss
    from metagame.agents.preference import inpo_regression

    rng = np.random.default_rng(0)
    K, eta, beta = 5, 0.7, 0.4
    x, mu = rng.dirichlet(np.ones(K)), rng.dirichlet(np.ones(K))
    upper = rng.uniform(size=(K, K))
    P = np.triu(upper, 1) + np.tril(1 - upper.T, -1) + 0.5 * np.eye(K)
    theta = torch.zeros(1, K, dtype=torch.float64, requires_grad=True)
    old = torch.log(torch.as_tensor(x))[None]
    ref = torch.log(torch.as_tensor(mu))[None]
    optimizer = torch.optim.LBFGS([theta], lr=1, max_iter=500, tolerance_grad=1e-12)

    def closure():
        optimizer.zero_grad()
        loss = inpo_loss(
            torch.log_softmax(theta, -1), old, ref, torch.as_tensor(P)[None], eta, beta
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    i, j = np.triu_indices(K, 1)
    pairs = np.stack([i, j], 1)
    expected = inpo_regression(x, pairs, P[i, j], eta, beta, mu, ridge=1e-12)
    np.testing.assert_allclose(torch.softmax(theta, -1)[0].detach().numpy(), expected, atol=1e-6)


def test_policy_gradient_loss_raises_answers_above_their_group_mean():
    from metagame.agents.lm.sequence_learner import policy_gradient_loss

    logp = torch.zeros(2, 3, requires_grad=True)
    policy_gradient_loss(
        logp, torch.tensor([[1.0, 0.5, 0.0], [0.2, 0.2, 0.2]]), None, 0.0
    ).backward()
    torch.testing.assert_close(logp.grad, -torch.tensor([[0.5, 0.0, -0.5], [0.0, 0.0, 0.0]]) / 6)
    logp = torch.zeros(1, 2, requires_grad=True)  # equal rewards: the KL term pulls toward pi_ref
    policy_gradient_loss(logp, torch.zeros(1, 2), torch.tensor([[0.0, -1.0]]), 0.5).backward()
    assert logp.grad[0, 1] > 0 > logp.grad[0, 0]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["spo", "nash_md", "inpo"])
def test_sequence_learner_beats_the_initial_model(tiny_lm, tmp_path, algorithm):
    from metagame.agents.lm.sequence_learner import train_sequence_duel

    torch.set_num_threads(1)
    kwargs = {"model": str(tiny_lm), "max_tokens": 32, "judge": more_a}
    beta = 0.0 if algorithm == "spo" else 0.05
    run = train_sequence_duel(kwargs, tmp_path / algorithm, algorithm, 15, beta=beta, seed=0)
    assert len(run.tokens) == 15 and all(t > 0 for t in run.tokens)
    if beta:
        assert abs(run.reference_kl[0]) < 1e-5 and run.reference_kl[-1] > 0.01
    env = make("llm_duel", **kwargs)
    initial, tokenizer = load_causal_lm(tiny_lm)
    trained, _ = load_causal_lm(run.trained)
    before = score(env, tokenizer, initial, initial, seeds=(1, 2))
    after = score(env, tokenizer, trained, initial, seeds=(1, 2))
    print(f"{algorithm}: {before.format(signed=False)} -> {after.format(signed=False)}")
    assert after.low > before.high and after.estimate > 0.6


def test_sequence_lora_trains_adapters_only(tiny_lm, tmp_path):
    from metagame.agents.lm.sequence_learner import SequenceLearner

    learner = SequenceLearner(
        {"model": str(tiny_lm), "max_tokens": 16, "judge": more_a},
        "inpo",
        lora={"r": 4},
        beta=0.1,
        prompts_per_step=4,
        lr=3e-2,
    )
    base = {n: p.detach().clone() for n, p in learner.model.named_parameters() if "lora_" not in n}
    adapters = {n: p.detach().clone() for n, p in learner.model.named_parameters() if "lora_" in n}
    assert adapters and all(
        p.requires_grad for n, p in learner.model.named_parameters() if "lora_" in n
    )
    for _ in range(3):
        learner.step()
    for name, p in learner.model.named_parameters():
        if name in base:
            assert torch.equal(p, base[name]), name
    assert any(
        not torch.equal(p, adapters[n])
        for n, p in learner.model.named_parameters()
        if n in adapters
    )
    initial, _ = load_causal_lm(tiny_lm)
    saved, _ = load_causal_lm(learner.save(tmp_path / "lora"))
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        torch.testing.assert_close(
            saved(ids).logits, learner.model(input_ids=ids).logits, atol=1e-4, rtol=1e-4
        )
        assert (saved(ids).logits - initial(ids).logits).abs().max() > 1e-3
        with learner.model.disable_adapter():  # the reference is the untouched base model
            torch.testing.assert_close(learner.model(input_ids=ids).logits, initial(ids).logits)


def test_sequence_learner_rejects_bad_arguments(tiny_lm):
    from metagame.agents.lm.sequence_learner import SequenceLearner

    kwargs = {"model": str(tiny_lm), "max_tokens": 8, "judge": more_a}
    with pytest.raises(ValueError, match="algorithm must be one of"):
        SequenceLearner(kwargs, "dpo")
    with pytest.raises(ValueError, match="group"):
        SequenceLearner(kwargs, "spo", group=1)
    with pytest.raises(ValueError, match="mixture"):
        SequenceLearner(kwargs, "nash_md", mixture=1.5)
    with pytest.raises(ValueError, match="model"):
        SequenceLearner({"max_tokens": 8}, "spo")
