"""Masked RLModules and RLModule checkpoints, without a Ray cluster."""

import json

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns  # noqa: E402
from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical  # noqa: E402

from metagame.agents.arena import play  # noqa: E402
from metagame.agents.policy import (  # noqa: E402
    RandomPolicy,
    RLModulePolicy,
    load_policy,
    save_policy,
)
from metagame.agents.rllib import module_spec  # noqa: E402
from metagame.agents.rllib.encoding import ObservationCodec  # noqa: E402
from metagame.agents.rllib.modules import MaskedRandomRLModule, log_mask  # noqa: E402
from metagame.envs import make  # noqa: E402

GAME = "openspiel:tic_tac_toe"


def reachable_observations(count: int, seed: int = 0) -> list[dict]:
    """Observations (with masks) of tic-tac-toe positions reached by random play."""
    env, rng, out = make(GAME), np.random.default_rng(seed), []
    while len(out) < count:
        env.reset(seed=int(rng.integers(2**31)))
        for _ in env.agent_iter():
            obs, _, term, trunc, _ = env.last()
            if term or trunc:
                env.step(None)
                continue
            out.append(obs)
            env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
    return out[:count]


def encoded_batch(observations):
    codec = ObservationCodec(make(GAME).observation_space("player_0"))
    masks = np.stack([o["action_mask"] for o in observations])
    encoded = codec.encode_batch([o["observation"] for o in observations], masks)
    return {Columns.OBS: torch.from_numpy(encoded)}, masks.astype(bool)


def test_masked_observations_are_features_then_mask():
    codec = ObservationCodec(make(GAME).observation_space("player_0"))
    obs = reachable_observations(5)[4]
    encoded = codec.encode(obs)
    assert codec.space.contains(encoded) and codec.mask_size == 9
    np.testing.assert_array_equal(encoded[-9:], obs["action_mask"])
    np.testing.assert_array_equal(encoded[:-9], obs["observation"].ravel())
    terminal = {"observation": obs["observation"], "action_mask": np.zeros(9, np.int8)}
    np.testing.assert_array_equal(codec.encode(terminal)[-9:], np.ones(9))


@pytest.mark.parametrize("algo", ["PPO", "APPO", "DQN"])
def test_no_illegal_action_in_100000_masked_samples(algo):
    module = module_spec(GAME, algo=algo).build()
    batch, masks = encoded_batch(reachable_observations(2000))
    illegal = 0
    with torch.no_grad():
        for _ in range(50):  # 50 x 2000 = 100,000 sampled actions
            out = module.forward_exploration(batch, t=0)  # DQN: epsilon = 1, all random
            if Columns.ACTIONS in out:
                actions = out[Columns.ACTIONS].numpy()
            else:
                logits = out[Columns.ACTION_DIST_INPUTS]
                actions = TorchCategorical.from_logits(logits).sample().numpy()
            illegal += int((~masks[np.arange(len(actions)), actions]).sum())
    assert illegal == 0


def test_log_mask_zeroes_even_huge_logits():
    logits = torch.tensor([[1e4, 0.0, -3.0]])
    probs = torch.softmax(logits + log_mask(torch.tensor([[0.0, 1.0, 1.0]])), dim=-1)
    assert probs[0, 0] == 0 and torch.isclose(probs.sum(), torch.tensor(1.0))


def test_masked_random_module_is_uniform_over_legal():
    spec = module_spec(GAME)
    module = MaskedRandomRLModule(
        observation_space=spec.observation_space, action_space=spec.action_space
    )
    batch, masks = encoded_batch(reachable_observations(50))
    logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    probs = torch.softmax(logits, -1).numpy()
    np.testing.assert_allclose(probs, masks / masks.sum(1, keepdims=True), atol=1e-6)


def test_rl_module_checkpoint_round_trip(tmp_path):
    module = module_spec(GAME, fcnet_hiddens=[16]).build()
    observations = reachable_observations(300)
    batch, masks = encoded_batch(observations)
    with torch.no_grad():
        expected = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].argmax(-1)
    policy = load_policy(save_policy(module, tmp_path / "ckpt"))
    assert isinstance(policy, RLModulePolicy)
    np.testing.assert_array_equal(policy.act_batch(observations), expected.numpy())
    assert masks[np.arange(300), policy.act_batch(observations)].all()
    # sampling is seeded and reproducible
    sampler = load_policy(tmp_path / "ckpt", greedy=False, seed=3)
    first = sampler.act_batch(observations)
    sampler.reset(3)
    np.testing.assert_array_equal(first, sampler.act_batch(observations))
    results = play(GAME, [policy, RandomPolicy()], episodes=5, seed=0)
    assert results.returns.shape == (5, 2)


def test_corrupt_or_unsafe_module_checkpoints_raise(tmp_path):
    path = save_policy(module_spec(GAME, fcnet_hiddens=[8]).build(), tmp_path / "m")
    (path / "weights.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="weights.pt"):
        load_policy(path)
    (path / "weights.pt").unlink()
    with pytest.raises(ValueError, match="weights.pt"):
        load_policy(path)
    meta = json.loads((path / "policy.json").read_text())
    meta["module_class"] = "os:system"
    (path / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="module_class.*os:system.*not a checkpointable"):
        load_policy(path)


def test_pickled_weights_are_refused(tmp_path):
    path = save_policy(module_spec(GAME, fcnet_hiddens=[8]).build(), tmp_path / "m")

    class Payload:
        def __reduce__(self):
            return (print, ("executed",))

    torch.save({"x": Payload()}, path / "weights.pt")
    with pytest.raises(ValueError, match="weights.pt"):
        load_policy(path)
