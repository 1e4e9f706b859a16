"""Learning with bounded budgets: PPO beats uniform random at tic-tac-toe, balances CartPole.

Both runs use the local env runner only and stop training once a quick evaluation meets the
target (or the iteration budget is spent); the assertion is then on a fresh, larger evaluation
(other seeds) of greedy play by the saved-and-reloaded checkpoint through ``play``, the path
league evaluation takes.
"""

import pytest
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec  # noqa: E402
from ray.rllib.core.rl_module.rl_module import RLModuleSpec  # noqa: E402

from metagame.agents.arena import play  # noqa: E402
from metagame.agents.policy import RandomPolicy, load_policy, save_policy  # noqa: E402
from metagame.agents.rllib import module_spec, rllib_config  # noqa: E402
from metagame.agents.rllib.modules import MaskedRandomRLModule  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_local")]

TTT = "openspiel:tic_tac_toe"


def learner_first(agent_id, episode, **kwargs):
    """The learner moves first (player_0); a uniform-random module answers."""
    return "learner" if agent_id == "player_0" else "random"


def win_or_draw(policy, episodes: int, seed: int) -> float:
    """Win-or-draw rate of ``policy`` moving first against uniform random."""
    results = play(TTT, [policy, RandomPolicy()], episodes=episodes, seed=seed)
    return 1 - results.win_rate(1)


def test_ppo_beats_uniform_random_at_tic_tac_toe(tmp_path):
    config = rllib_config(
        TTT,
        "PPO",
        num_env_runners=0,
        train_batch_size=1000,
        minibatch_size=128,
        num_epochs=4,
        lr=1e-3,
        entropy_coeff=0.0,
        seed=0,
    )
    spec = module_spec(TTT)
    random = RLModuleSpec(
        module_class=MaskedRandomRLModule,
        observation_space=spec.observation_space,
        action_space=spec.action_space,
    )
    config.multi_agent(
        policies={"learner", "random"},
        policy_mapping_fn=learner_first,
        policies_to_train=["learner"],
    )
    config.rl_module(
        rl_module_spec=MultiRLModuleSpec(rl_module_specs={"learner": spec, "random": random})
    )
    trainer = config.build_algo()
    try:
        for _ in range(20):
            trainer.train()
            policy = load_policy(save_policy(trainer.get_module("learner"), tmp_path / "ttt"))
            if win_or_draw(policy, 200, seed=10_000) >= 0.95:
                break
    finally:
        trainer.stop()
    # random against random wins or draws 71% as first player (test_play checks the exact value)
    rate = win_or_draw(policy, 1000, seed=50_000)
    assert rate >= 0.9, rate


def test_ppo_balances_cartpole(tmp_path):
    config = rllib_config(
        "gym:CartPole-v1",
        "PPO",
        num_env_runners=0,
        train_batch_size=2000,
        minibatch_size=250,
        num_epochs=10,
        lr=1e-3,
        vf_loss_coeff=0.01,
        seed=0,
    )
    trainer = config.build_algo()
    try:
        for _ in range(25):
            trainer.train()
            policy = load_policy(
                save_policy(trainer.get_module("default_policy"), tmp_path / "cartpole")
            )
            if play("gym:CartPole-v1", [policy], episodes=5, seed=1000).returns.mean() >= 450:
                break
    finally:
        trainer.stop()
    mean = play("gym:CartPole-v1", [policy], episodes=20, seed=5000).returns.mean()
    assert mean >= 400, mean
