"""The whole-batch minibatch loop: RLlib's minibatches, RLlib's weights, cheaper bookkeeping.

Independent references: RLlib's own ``MiniBatchCyclicIterator`` for the minibatch rows (the
same global NumPy draws), and RLlib's own learners (PPO's and MMD's) for the weights and
reported statistics after whole ``Algorithm.train()`` iterations from the same seed; then a
short Kuhn poker self-play run whose exact exploitability falls.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.minibatch_utils import MiniBatchCyclicIterator

from metagame.agents.policy import RLModulePolicy
from metagame.agents.rllib import rllib_config
from metagame.agents.rllib.magnet import MagnetPPOLearner
from metagame.agents.rllib.train_batch import use_train_batch
from metagame.agents.rllib.whole_batch_learner import (
    HeldMetrics,
    WholeBatchMagnetPPOLearner,
    WholeBatchPPOLearner,
    fuse_adam,
    minibatch_rows,
    use_whole_batch_learner,
)
from metagame.envs import make
from metagame.league.exploitability import mixture_exploitability

KUHN = "openspiel:kuhn_poker"


@st.composite
def cyclic_plans(draw):
    lengths = draw(st.lists(st.integers(1, 40), min_size=1, max_size=3))
    return (
        {f"m{i}": n for i, n in enumerate(lengths)},
        draw(st.integers(1, 50)),  # minibatch size, also larger than a module's batch
        draw(st.integers(1, 4)),  # epochs
        draw(st.booleans()),  # shuffle
        draw(st.sampled_from([0, 0, 1, 7])),  # total minibatches (0: by epochs)
        draw(st.integers(0, 2**31)),  # seed
    )


@settings(max_examples=200, deadline=None)
@given(cyclic_plans())
def test_minibatch_rows_are_rllibs_cyclic_iterator(plan):
    lengths, size, epochs, shuffle, total, seed = plan
    batch = MultiAgentBatch(
        {m: SampleBatch({"row": np.arange(n)}) for m, n in lengths.items()},
        env_steps=sum(lengths.values()),
    )
    np.random.seed(seed)  # noqa: NPY002 (RLlib shuffles with the global generator)
    theirs = [
        {m: b["row"] for m, b in mb.policy_batches.items()}
        for mb in MiniBatchCyclicIterator(
            batch,
            num_epochs=epochs,
            minibatch_size=size,
            shuffle_batch_per_epoch=shuffle,
            num_total_minibatches=total,
        )
    ]
    after_theirs = np.random.random()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    ours = list(minibatch_rows(lengths, size, epochs, shuffle, total))
    assert np.random.random() == after_theirs  # noqa: NPY002  # the same draws from the global generator
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert list(a) == list(b)
        for m in a:
            assert a[m].tolist() == b[m].tolist()
    if total:
        assert len(ours) == total
    else:  # every row seen at least `epochs` times
        for m, n in lengths.items():
            seen = np.bincount(np.concatenate([r[m] for r in ours]), minlength=n)
            assert seen.min() >= epochs


def test_an_empty_module_batch_is_refused_by_name():
    with pytest.raises(ValueError, match="'slot'"):
        list(minibatch_rows({"main": 4, "slot": 0}, 2, 1, False))


def test_the_ppo_and_mmd_learners_are_swapped_and_others_left_alone(league_ppo):
    ppo = use_whole_batch_learner(league_ppo.config())
    assert ppo.learner_class is WholeBatchPPOLearner
    mmd = use_whole_batch_learner(rllib_config(KUHN, "MMD"))
    assert mmd.learner_class is WholeBatchMagnetPPOLearner
    for algo in ("APPO", "DQN"):
        other = rllib_config(KUHN, algo)
        assert use_whole_batch_learner(other).learner_class is other.get_default_learner_class()


REPORTED = (
    "total_loss",
    "policy_loss",
    "vf_loss",
    "entropy",
    "mean_kl_loss",
    "curr_kl_coeff",
    "num_module_steps_trained",
    "weights_seq_no",
    "diff_num_grad_updates_vs_sampler_policy",
)


def train_twice(league_ppo, config, learner_class):
    """Weights and learner results after two iterations of ``config`` with ``learner_class``."""
    algo = config.learners(learner_class=learner_class).build_algo()
    try:
        league_ppo.install(algo)
        for _ in range(2):
            result = algo.train()
        assert type(algo.learner_group._learner) is learner_class
        weights = algo.learner_group.get_weights(["main", "slot_0"])
    finally:
        algo.stop()
    return weights, result["learners"]


def assert_same_learning(ours, theirs, modules, reported):
    """The same weights (Adam's fused kernel and RLlib's per-parameter one round apart) and
    the same reported statistics of ``main``."""
    for module in modules:
        for key, value in theirs[0][module].items():
            np.testing.assert_allclose(ours[0][module][key], value, rtol=1e-6, atol=1e-7)
    for key in reported:
        np.testing.assert_allclose(
            ours[1]["main"][key], theirs[1]["main"][key], rtol=1e-5, atol=1e-8, err_msg=key
        )


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize("train_batch, grad_clip", [(True, None), (False, 0.05)])
def test_ppo_learns_rllibs_weights(league_ppo, train_batch, grad_clip):
    """Two league-shaped PPO iterations (3 epochs of shuffled 64-row minibatches, the
    trainee and a frozen slot), from metagame's train batch pipeline or RLlib's, without
    gradient clipping or with it (by the global norm, which is then reported too)."""
    config = league_ppo.config(
        train_batch_size_per_learner=400, minibatch_size=64, num_epochs=3, grad_clip=grad_clip
    )
    if train_batch:
        config = use_train_batch(config)
    theirs = train_twice(league_ppo, config, PPOTorchLearner)
    ours = train_twice(league_ppo, config, WholeBatchPPOLearner)
    norm = ("gradients_default_optimizer_global_norm",) if grad_clip else ()
    assert_same_learning(ours, theirs, ("main", "slot_0"), REPORTED + norm)
    results, their_results = ours[1], theirs[1]
    for key in ("num_env_steps_trained", "num_module_steps_trained"):
        assert results["__all_modules__"][key] == their_results["__all_modules__"][key]
    assert set(results) == set(their_results)
    for module in their_results:  # the same statistics reported
        assert set(results[module]) == set(their_results[module]), module


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_mmd_learns_rllibs_weights(league_ppo):
    """The magnet learner on top: its KL term and refresh counters are the same too."""
    config = league_ppo.config(
        algo="MMD",
        train_batch_size_per_learner=300,
        minibatch_size=50,
        num_epochs=2,
        magnet_kl_coeff=0.3,
        magnet_update_every=1,
    )
    theirs = train_twice(league_ppo, config, MagnetPPOLearner)
    ours = train_twice(league_ppo, config, WholeBatchMagnetPPOLearner)
    assert_same_learning(ours, theirs, ("main",), ("magnet_kl", "magnet_updates", "total_loss"))


@pytest.mark.usefixtures("ray_local")
def test_non_finite_gradients_are_treated_as_rllib_treats_them(league_ppo):
    """A batch whose advantages are NaN: RLlib zeroes the non-finite gradients and steps; so
    does the whole-batch learner (through RLlib's apply_gradients), to the same weights."""
    config = league_ppo.config(train_batch_size_per_learner=200, minibatch_size=32, num_epochs=2)
    weights = []
    for learner_class in (PPOTorchLearner, WholeBatchPPOLearner):
        algo = config.learners(learner_class=learner_class).build_algo()
        try:
            learner = algo.learner_group._learner
            module = learner.module["main"]
            module.observation_space.seed(0)
            obs = torch.as_tensor(np.stack([module.observation_space.sample() for _ in range(50)]))
            n = len(obs)
            logits = torch.zeros(n, module.action_space.n)
            advantages = torch.ones(n)
            advantages[::7] = torch.nan
            rows = {
                "obs": obs,
                "actions": torch.zeros(n, dtype=torch.int64),
                "action_dist_inputs": logits,
                "action_logp": torch.full((n,), -np.log(module.action_space.n)),
                "advantages": advantages,
                "value_targets": torch.zeros(n),
            }
            np.random.seed(0)  # noqa: NPY002 (RLlib shuffles with the global generator)
            learner.update(
                batch=MultiAgentBatch({"main": SampleBatch(rows)}, env_steps=n),
                num_epochs=2,
                minibatch_size=32,
                shuffle_batch_per_epoch=True,
            )
            weights.append({k: v.detach().clone() for k, v in module.state_dict().items()})
        finally:
            algo.stop()
    for key, value in weights[0].items():
        assert torch.isfinite(value).all()
        torch.testing.assert_close(weights[1][key], value, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_ppo_self_play_with_the_whole_batch_learner_lowers_kuhn_exploitability():
    config = rllib_config(
        KUHN,
        "PPO",
        sharing="all",  # one module plays both seats
        num_env_runners=0,
        train_batch_size=500,
        minibatch_size=250,
        num_epochs=4,
        lr=3e-3,
        seed=0,
    )
    algo = use_whole_batch_learner(config).build_algo()
    space = make(KUHN).observation_space("player_0")

    def exploitability() -> float:
        policy = RLModulePolicy(algo.get_module("shared"), space, greedy=False)
        return mixture_exploitability(KUHN, {}, [policy], [1.0])

    try:
        assert type(algo.learner_group._learner) is WholeBatchPPOLearner
        initial = exploitability()
        for _ in range(5):
            algo.train()
        trained = exploitability()
    finally:
        algo.stop()
    print(f"Kuhn exploitability: initial {initial:.4f}, after 5 PPO iterations {trained:.4f}")
    assert trained < initial - 0.05


def test_fuse_adam_switches_adam_only_and_keeps_its_update():
    start = [torch.zeros(3), torch.ones(2, 2)]
    params = [torch.nn.Parameter(t.clone()) for t in start]
    reference = [torch.nn.Parameter(t.clone()) for t in start]
    adam, plain = torch.optim.Adam(params, lr=0.1), torch.optim.Adam(reference, lr=0.1)
    fuse_adam(adam)
    assert adam.param_groups[0]["fused"] and not adam.param_groups[0]["foreach"]
    assert not plain.param_groups[0]["fused"]
    sgd = torch.optim.SGD(reference, lr=0.1)
    fuse_adam(sgd)
    assert not sgd.param_groups[0].get("fused")
    for step in range(3):
        for p, q in zip(params, reference, strict=True):
            p.grad = torch.full_like(p, 0.5 - step) * (1 + torch.arange(p.numel()).view(p.shape))
            q.grad = p.grad.clone()
        adam.step()
        plain.step()
    for p, q, t in zip(params, reference, start, strict=True):
        torch.testing.assert_close(p, q)
        assert not torch.equal(p.detach(), t)


KINDS = {  # a statistic per kind of reduction, each logged as RLlib's learners log them
    ("m", "loss"): {"window": 1},
    ("m", "grad_norm"): {"window": 1, "reduce": "mean"},
    ("m", "steps"): {"reduce": "sum"},
    ("all", "steps_lifetime"): {"reduce": "lifetime_sum", "with_throughput": True},
    ("m", "size_mean"): {"reduce": "mean"},
    ("m", "max"): {"reduce": "max", "window": 3},
}


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(KINDS)), st.integers(-50, 50), st.sampled_from("vdn")),
        min_size=1,
        max_size=30,
    )
)
def test_held_metrics_reduce_as_if_logged_one_by_one(logs):
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    direct, later = MetricsLogger(root=True), MetricsLogger(root=True)
    held = HeldMetrics(later)
    for key, value, how in logs:
        for logger in (direct, held):
            if how == "d":  # log_dict under the first key part, as PPO's loss logs
                logger.log_dict({key[1]: float(value)}, key=key[0], **KINDS[key])
            elif how == "n":  # a nested dict
                logger.log_dict({key[0]: {key[1]: float(value)}}, **KINDS[key])
            else:
                logger.log_value(key, float(value), **KINDS[key])
    held.release()
    assert later.reduce() == direct.reduce()
