"""Magnetic mirror descent PPO (algo="MMD"): its KL term, its settings, and Kuhn poker self-play
whose exact exploitability falls, with the magnet surviving an RLlib checkpoint."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from metagame.agents.policy import RLModulePolicy
from metagame.agents.rllib import rllib_config
from metagame.agents.rllib.magnet import magnet_state, reference_kl, update_magnets
from metagame.envs import make
from metagame.league.exploitability import mixture_exploitability

KUHN = "openspiel:kuhn_poker"


def test_reference_kl_matches_torch():
    torch.manual_seed(0)
    p, q = torch.randn(5, 7), torch.randn(5, 7)
    expected = torch.distributions.kl_divergence(
        torch.distributions.Categorical(logits=p), torch.distributions.Categorical(logits=q)
    )
    torch.testing.assert_close(reference_kl(p, q), expected)
    assert reference_kl(p, p).abs().max() < 1e-6


@given(
    arrays(np.float64, (3, 4), elements=st.floats(-5, 5)),
    arrays(np.float64, (3, 4), elements=st.floats(-5, 5)),
    arrays(np.bool_, (3, 4)),
)
def test_reference_kl_ignores_masked_actions(p, q, mask):
    """Masked modules add log(0) clamped at the smallest float to illegal logits: the KL is
    then the KL of the distributions restricted to the legal actions, finite and >= 0."""
    from metagame.agents.rllib.modules import log_mask

    mask[:, 0] = True
    m = torch.as_tensor(mask, dtype=torch.float32)
    kl = reference_kl(
        torch.as_tensor(p).float() + log_mask(m), torch.as_tensor(q).float() + log_mask(m)
    )
    pp = np.where(mask, np.exp(p - p.max(1, keepdims=True)), 0.0)
    qq = np.where(mask, np.exp(q - q.max(1, keepdims=True)), 0.0)
    pp, qq = pp / pp.sum(1, keepdims=True), qq / qq.sum(1, keepdims=True)
    ratio = np.log(np.where(mask, pp, 1.0)) - np.log(np.where(mask, qq, 1.0))
    expected = (pp * ratio).sum(1)
    np.testing.assert_allclose(kl.numpy(), expected, atol=1e-4)
    assert torch.isfinite(kl).all() and (kl > -1e-5).all()


@pytest.mark.parametrize(
    "key, value",
    [
        ("magnet_kl_coeff", -0.1),
        ("magnet_kl_coeff", float("nan")),
        ("magnet_kl_coeff", [[0, 0.1], [100, -1.0]]),
        ("magnet_kl_coeff", [[5, 0.1], [100, 0.0]]),  # a schedule starts at timestep 0
        ("magnet_kl_coeff", "0.1"),
        ("magnet_update_every", -1),
        ("magnet_update_every", 2.5),
        ("magnet_update_every", True),
    ],
)
def test_bad_magnet_settings_are_refused_by_name(key, value):
    with pytest.raises(ValueError, match=key):
        rllib_config(KUHN, "MMD", **{key: value})


def test_magnet_settings_are_mmd_hyperparameters():
    config = rllib_config(
        KUHN, "mmd", magnet_kl_coeff=[[0, 0.2], [10_000, 0.01]], magnet_update_every=0
    )
    assert config.magnet_kl_coeff == [[0, 0.2], [10_000, 0.01]]
    assert config.magnet_update_every == 0
    assert config.get_default_learner_class().__name__ == "MagnetPPOLearner"
    with pytest.raises(ValueError, match="unknown hyperparameters for PPO: magnet_kl_coeff"):
        rllib_config(KUHN, "PPO", magnet_kl_coeff=0.1)


def exploitability_of(module) -> float:
    space = make(KUHN).observation_space("player_0")
    return mixture_exploitability(KUHN, {}, [RLModulePolicy(module, space, greedy=False)], [1.0])


def learner_weights(algo) -> dict[str, np.ndarray]:
    return algo.learner_group.get_weights(["shared"])["shared"]


def same_weights(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_mmd_self_play_lowers_kuhn_exploitability_and_checkpoints_its_magnet(tmp_path):
    config = rllib_config(
        KUHN,
        "MMD",
        sharing="all",  # one module plays both seats
        num_env_runners=0,
        train_batch_size=500,
        minibatch_size=250,
        num_epochs=4,
        lr=3e-3,
        magnet_kl_coeff=0.05,
        magnet_update_every=2,
        seed=0,
    )
    algo = config.build_algo()
    try:
        initial = exploitability_of(algo.get_module("shared"))
        start = magnet_state(algo)["shared"]
        assert same_weights(start["weights"], learner_weights(algo))  # the magnet starts at pi_0
        for _ in range(5):
            result = algo.train()
        trained = exploitability_of(algo.get_module("shared"))
        print(f"Kuhn exploitability: initial {initial:.4f}, after 5 MMD iterations {trained:.4f}")
        assert trained < initial - 0.05
        assert np.isfinite(result["learners"]["shared"]["magnet_kl"])

        # refreshed after updates 2 and 4, one update ago: behind the module, not at pi_0
        state = magnet_state(algo)["shared"]
        assert (state["updates"], state["updates_since"]) == (2, 1)
        assert not same_weights(state["weights"], learner_weights(algo))
        assert not same_weights(state["weights"], start["weights"])

        algo.save_to_path(str(tmp_path / "ckpt"))
        update_magnets(algo)  # the caller's refresh (e.g. the league's, each iteration)
        moved = magnet_state(algo)["shared"]
        assert same_weights(moved["weights"], learner_weights(algo))
        assert (moved["updates"], moved["updates_since"]) == (3, 0)
    finally:
        algo.stop()

    restored = config.build_algo()
    try:
        restored.restore_from_path(str(tmp_path / "ckpt"))
        back = magnet_state(restored)["shared"]
        assert (back["updates"], back["updates_since"]) == (2, 1)
        assert same_weights(back["weights"], state["weights"])
        with pytest.raises(ValueError, match="'nobody' has no magnet"):
            update_magnets(restored, ["nobody"])
    finally:
        restored.stop()
