"""Policies: masking, seeding, distributions, and checkpoint round-trips (no Ray needed)."""

import json

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metagame.agents.policy import (
    MixedStrategyPolicy,
    Policy,
    RandomPolicy,
    TabularPolicy,
    legal_distribution,
    load_policy,
    save_policy,
)

masks = st.lists(st.booleans(), min_size=1, max_size=12).filter(any)


@given(masks, st.integers(0, 2**16))
def test_random_policy_only_plays_legal_actions(mask, seed):
    policy = RandomPolicy(seed=seed)
    mask = np.asarray(mask, dtype=np.int8)
    actions = policy.act_batch([None] * 50, [mask] * 50)
    assert mask[actions].all()


@given(st.lists(st.floats(0, 1), min_size=2, max_size=8), masks)
def test_legal_distribution_is_a_distribution_on_legal_actions(p, mask):
    p = np.asarray(p)
    mask = np.resize(np.asarray(mask), len(p))
    if not mask.any():
        mask[0] = True
    q = legal_distribution(p, mask)[0]
    assert np.isclose(q.sum(), 1.0)
    assert np.all(q[~mask] == 0)
    if p[mask].sum() > 0:  # proportional to p on the legal actions
        np.testing.assert_allclose(q[mask], p[mask] / p[mask].sum())


def test_no_legal_action_raises():
    with pytest.raises(ValueError, match="no action"):
        RandomPolicy(3).act(None, np.zeros(3, dtype=np.int8))


def test_mask_taken_from_observation_dict():
    policy = RandomPolicy(seed=0)
    obs = {"observation": np.zeros(2), "action_mask": np.array([0, 0, 1, 0], dtype=np.int8)}
    assert all(policy.act(obs) == 2 for _ in range(20))


def test_seeding_reproduces_and_reset_restarts():
    a, b = RandomPolicy(5, seed=3), RandomPolicy(5, seed=3)
    first = a.act_batch([None] * 100)
    np.testing.assert_array_equal(first, b.act_batch([None] * 100))
    a.reset(3)
    np.testing.assert_array_equal(first, a.act_batch([None] * 100))


def test_mixed_strategy_frequencies_match_strategy():
    strategy = np.array([0.5, 0.3, 0.2, 0.0])
    policy = MixedStrategyPolicy(strategy, seed=0)
    counts = np.bincount(policy.act_batch([None] * 20000), minlength=4) / 20000
    # 5 standard errors at n = 20000 is below 0.02
    np.testing.assert_allclose(counts, strategy, atol=0.02)
    assert counts[3] == 0
    masked = policy.act_batch([None] * 2000, [np.array([0, 1, 1, 1])] * 2000)
    assert set(np.unique(masked)) <= {1, 2}
    np.testing.assert_allclose(policy.probabilities(None, np.array([0, 1, 1, 1])), [0, 0.6, 0.4, 0])


@pytest.mark.parametrize("bad", [[0.5, 0.6], [-0.1, 1.1], [np.nan, 1.0], []])
def test_mixed_strategy_rejects_non_distributions(bad):
    with pytest.raises(ValueError, match="strategy"):
        MixedStrategyPolicy(bad)


def test_tabular_policy_looks_up_states():
    strategy = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    policy = TabularPolicy(strategy, greedy=True)
    assert policy.act(0) == 0 and policy.act(1) == 1
    assert policy.act(np.array([0, 1, 0])) == 1  # one-hot state
    keyed = TabularPolicy(strategy, state_index=lambda obs: obs["s"], greedy=True)
    assert keyed.act({"s": 1}) == 1
    with pytest.raises(ValueError, match="state id 7"):
        policy.act(7)


def test_random_box_policy_stays_in_bounds():
    space = gym.spaces.Box(np.array([-2.0, 0.0]), np.array([2.0, 0.5]), dtype=np.float32)
    actions = RandomPolicy(space, seed=0).act_batch([None] * 500)
    assert actions.shape == (500, 2) and actions.dtype == np.float32
    assert np.all(actions >= space.low) and np.all(actions <= space.high)


def test_protocol_is_satisfied():
    for policy in [RandomPolicy(2), MixedStrategyPolicy([1.0]), TabularPolicy(np.eye(2))]:
        assert isinstance(policy, Policy)


@pytest.mark.parametrize(
    "policy",
    [
        RandomPolicy(4, seed=7, id="r"),
        RandomPolicy(gym.spaces.Box(-1, 1, (3,), np.float32), seed=2),
        MixedStrategyPolicy([0.25, 0.75], seed=1, id="nash"),
        TabularPolicy(np.array([[0.2, 0.8], [1.0, 0.0]]), seed=4, id="minimax_q"),
    ],
)
def test_checkpoint_round_trip(policy, tmp_path):
    loaded = load_policy(save_policy(policy, tmp_path / "ckpt"))
    assert type(loaded) is type(policy) and loaded.id == policy.id
    obs = [0, 1, 1, 0] * 10
    policy.reset(11)
    loaded.reset(11)
    np.testing.assert_array_equal(loaded.act_batch(obs), policy.act_batch(obs))


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="policy.json"):
        load_policy(tmp_path / "nowhere")
    path = save_policy(MixedStrategyPolicy([1.0]), tmp_path / "p")
    (path / "policy.json").write_text("{not json")
    with pytest.raises(ValueError, match="policy.json.*corrupt"):
        load_policy(path)
    (path / "policy.json").write_text(json.dumps({"kind": "mixed", "id": "x"}))
    with pytest.raises(ValueError, match="corrupt"):
        load_policy(path)


def test_tabular_with_custom_state_index_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="state_index"):
        save_policy(TabularPolicy(np.eye(2), state_index=int), tmp_path / "t")
