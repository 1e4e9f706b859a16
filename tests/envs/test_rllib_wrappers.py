"""What the README says about RLlib's own PettingZoo wrappers: our games without action masks
pass RLlib's environment pre-check and play the same episodes through them; games with masks
fail that pre-check (their illegal actions raise), which is why ``rllib_config`` is the way."""

import numpy as np
import pytest
from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv, PettingZooEnv
from ray.rllib.utils.pre_checks.env import check_multiagent_environments

from metagame.envs import make


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("soccer", {"horizon": 20}),
        ("matrix", {"game": "prisoners_dilemma", "rounds": 3}),
        ("preference", {"rounds": 3}),
        ("llm_duel", {"max_tokens": 3}),
    ],
)
def test_unmasked_games_go_through_rllib_parallel_wrapper(name, kwargs):
    wrapped = ParallelPettingZooEnv(make(name, **kwargs))
    check_multiagent_environments(wrapped)
    ours = make(name, **kwargs)
    obs_w, _ = wrapped.reset(seed=5)
    obs_o, _ = ours.reset(seed=5)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        np.testing.assert_array_equal(
            np.stack(list(obs_w.values())), np.stack(list(obs_o.values()))
        )
        actions = {a: int(rng.integers(ours.action_space(a).n)) for a in ours.agents}
        obs_w, rew_w, term_w, trunc_w, _ = wrapped.step(actions)
        obs_o, rew_o, *_ = ours.step(actions)
        assert rew_w == rew_o
        done = term_w["__all__"] or trunc_w["__all__"]
    assert not ours.agents


def test_masked_games_fail_rllib_pre_check():
    """Pursuit-evasion on a grid masks moves off the board; RLlib's pre-check steps unmasked
    random actions, and the env refuses the illegal ones."""
    with pytest.raises(ValueError):
        for seed in range(20):  # a random joint action is illegal with high probability
            env = ParallelPettingZooEnv(make("pursuit_evasion", graph="grid:3x3"))
            env.action_space.seed(seed)
            check_multiagent_environments(env)


def test_masked_aec_game_through_rllib_wrapper_needs_the_mask():
    """An OpenSpiel game through RLlib's AEC wrapper: the observation is our Dict with the
    mask, which RLlib's default encoders do not read, and a masked action raises."""
    env = PettingZooEnv(make("openspiel:tic_tac_toe"))
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["player_0"]
    assert set(obs["player_0"]) == {"observation", "action_mask"}
    obs, *_ = env.step({"player_0": 4})  # the centre
    assert obs["player_1"]["action_mask"][4] == 0
    with pytest.raises(ValueError, match="illegal action 4"):
        env.step({"player_1": 4})


def test_tensorless_python_game_feeds_rllib_modules():
    """python_iterated_prisoners_dilemma has an observer with strings only; its history
    observation builds metagame's RLlib module (an MLP encoder) and plays through it."""
    from metagame.agents import play
    from metagame.agents.policy import RLModulePolicy
    from metagame.agents.rllib.modules import module_spec

    name = "openspiel:python_iterated_prisoners_dilemma"
    env = make(name)
    space = env.observation_space("player_0")
    assert len(space["observation"].shape) == 1
    policies = [
        RLModulePolicy(module_spec(name, agent=a).build(), env.observation_space(a), seed=i)
        for i, a in enumerate(env.possible_agents)
    ]
    results = play(name, policies, episodes=3, seed=0)
    assert results.returns.shape == (3, 2) and results.lengths.min() >= 1
