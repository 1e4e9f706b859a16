"""PPO's train batch from whole arrays: the batch RLlib's default learner pipeline gives.

Independent references: RLlib's own ``compute_value_targets`` loop for the GAE recursion, and
RLlib's default PPO learner connector pipeline (with its bootstrap timestep and GAE pieces) for
the batch, on episodes sampled by the vectorised runner and by RLlib's own runner; then one
PPO iteration with each pipeline from the same seed gives the same weights.
"""

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner
from ray.rllib.utils.postprocessing.value_predictions import compute_value_targets

from metagame.agents.rllib.train_batch import (
    TrainBatch,
    _ModuleRows,
    use_train_batch,
    value_targets,
)
from metagame.agents.rllib.vector_env_runner import VectorEnvRunner

KUHN = "openspiel:kuhn_poker"


@st.composite
def gae_rows(draw):
    n = draw(st.integers(0, 40))
    floats = st.floats(-5, 5, width=32)
    values = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float32)
    rewards = np.array(draw(st.lists(floats, min_size=n, max_size=n)), dtype=np.float32)
    flags = st.lists(st.booleans(), min_size=n, max_size=n)
    terminateds = np.array(draw(flags), dtype=bool)
    truncateds = np.array(draw(flags), dtype=bool)
    gamma = draw(st.floats(0, 1))
    lambda_ = draw(st.floats(0, 1))
    return values, rewards, terminateds, truncateds, gamma, lambda_


@settings(max_examples=300, deadline=None)
@given(gae_rows())
def test_value_targets_are_rllibs_loop_bit_for_bit(rows):
    ours = value_targets(*rows)
    theirs = compute_value_targets(*rows)
    assert ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)


def rllib_batch(algo, episodes):
    """RLlib's default PPO learner pipeline on (copies of) ``episodes``."""
    learner = algo.learner_group._learner
    return learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=copy.deepcopy(episodes), shared_data={}
    )


@pytest.mark.usefixtures("ray_local")
@pytest.mark.parametrize(
    "game, runner_cls",
    [
        ("openspiel:leduc_poker", VectorEnvRunner),
        ("openspiel:leduc_poker", MultiAgentEnvRunner),
        (KUHN, VectorEnvRunner),
    ],
)
def test_the_batch_is_rllibs_for_the_training_modules(game, runner_cls, league_ppo):
    config = league_ppo.config(game, runner_cls, train_batch_size_per_learner=300)
    algo = config.build_algo()
    league_ppo.install(algo, game)
    algo.train()  # weights away from initialisation, so values and advantages vary
    episodes = algo.env_runner.sample(num_timesteps=300)
    lengths = [{a: len(e) for a, e in ep.agent_episodes.items()} for ep in episodes]
    ids = [ep.id_ for ep in episodes]
    theirs = rllib_batch(algo, episodes)
    learner = algo.learner_group._learner
    piece = TrainBatch(modules=["main"], gamma=algo.config.gamma, lambda_=algo.config.lambda_)
    ours = piece(rl_module=learner.module, batch={}, episodes=episodes)
    assert set(theirs) == {"main", "slot_0"}  # RLlib processes the frozen slot too
    assert set(ours) == {"main"}
    assert list(ours["main"]) == list(theirs["main"])
    for key, value in theirs["main"].items():
        assert ours["main"][key].dtype == value.dtype, key
        assert torch.equal(ours["main"][key], value), key
    assert len(ours["main"]["obs"]) > 100
    # the episodes are left as they were
    assert [ep.id_ for ep in episodes] == ids
    assert [{a: len(e) for a, e in ep.agent_episodes.items()} for ep in episodes] == lengths
    algo.stop()


def test_an_episode_without_actions_is_refused():
    class Empty:
        agent_id = "player_0"
        is_terminated = True
        is_truncated = False

        def __len__(self):
            return 0

    with pytest.raises(ValueError, match="player_0"):
        _ModuleRows().add(Empty())


@pytest.mark.usefixtures("ray_local")
def test_ppo_learns_the_same_weights_from_either_pipeline(league_ppo):
    weights, losses = [], []
    for fast in (False, True):
        config = league_ppo.config(
            train_batch_size_per_learner=400, minibatch_size=64, num_epochs=3
        )
        if fast:
            config = use_train_batch(config)
        algo = config.build_algo()
        league_ppo.install(algo)
        for _ in range(2):
            result = algo.train()
        losses.append(result["learners"]["main"]["total_loss"])
        weights.append(algo.learner_group.get_weights(["main", "slot_0"]))
        algo.stop()
    assert losses[0] == losses[1]
    for module in ("main", "slot_0"):
        for key, value in weights[0][module].items():
            np.testing.assert_array_equal(value, weights[1][module][key])


def test_other_configs_are_left_alone(league_ppo):
    config = league_ppo.config()
    fast = use_train_batch(config.copy(copy_frozen=False))
    assert fast._learner_connector is not None
    assert not fast.add_default_connectors_to_learner_pipeline
    lstm = league_ppo.config(model={"fcnet_hiddens": [16], "use_lstm": True})
    assert use_train_batch(lstm)._learner_connector is None
