"""RLlib configs for every family: build, train one iteration, play the checkpoint.

Ray starts once per module (2 CPUs, no dashboard); every config uses the local env runner and
small batches, so each training iteration is short.
"""

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import ParallelEnv

from metagame.agents.arena import play
from metagame.agents.policy import RandomPolicy, load_policy, save_policy
from metagame.agents.rllib import module_spec, register_env, rllib_config  # noqa: E402
from metagame.envs import make, register

pytestmark = pytest.mark.usefixtures("ray_local")

SMALL = dict(num_env_runners=0, train_batch_size=128, minibatch_size=64, num_epochs=1, seed=0)


class Corridor(ParallelEnv):
    """Walkers cross a corridor while a guard watches a grid: a test bed for RLlib plumbing.

    Walkers (masked Discrete(3) actions: stay, left, right; Dict observation with a Discrete
    position) leave on reaching the right end; ``walker_2`` arrives at step 2. The guard sees a
    channels-first (2, 6, 6) grid and picks one of 3 actions, rewarded for matching the number
    of walkers left mod 3. Episodes truncate after ``horizon`` steps.
    """

    metadata = {"name": "corridor"}

    def __init__(self, length: int = 4, horizon: int = 12):
        self.length, self.horizon = length, horizon
        self.possible_agents = ["walker_0", "walker_1", "walker_2", "guard_0"]
        walker = gym.spaces.Dict(
            {
                "observation": gym.spaces.Discrete(length),
                "action_mask": gym.spaces.Box(0, 1, (3,), np.int8),
            }
        )
        grid = gym.spaces.Box(0.0, 1.0, (2, 6, 6), np.float32)
        self._obs = {a: walker for a in self.possible_agents[:3]} | {"guard_0": grid}
        self._act = {a: gym.spaces.Discrete(3) for a in self.possible_agents}

    def observation_space(self, agent):
        return self._obs[agent]

    def action_space(self, agent):
        return self._act[agent]

    def _observe(self, agent):
        if agent == "guard_0":
            grid = np.zeros((2, 6, 6), np.float32)
            for a, x in self.pos.items():
                grid[0, int(a[-1]), x] = 1.0
            grid[1, 0, self.t % 6] = 1.0
            return grid
        x = self.pos[agent]
        mask = np.array([1, x > 0, x < self.length - 1], dtype=np.int8)
        return {"observation": x, "action_mask": mask}

    def reset(self, seed=None, options=None):
        self.t = 0
        self.pos = {"walker_0": 0, "walker_1": 1}
        self.agents = ["walker_0", "walker_1", "guard_0"]
        return {a: self._observe(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        rewards, terminations = {}, {}
        for a in [a for a in self.agents if a != "guard_0"]:
            action = int(actions[a])
            if not self._observe(a)["action_mask"][action]:
                raise ValueError(f"illegal action {action} by {a}")
            self.pos[a] += {0: 0, 1: -1, 2: 1}[action]
            done = self.pos[a] == self.length - 1
            rewards[a], terminations[a] = (1.0 if done else -0.05), done
        rewards["guard_0"] = float(int(actions["guard_0"]) == len(self.pos) % 3)
        terminations["guard_0"] = False
        truncated = self.t >= self.horizon
        truncations = {a: truncated for a in self.agents}
        observations = {a: self._observe(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        for a, done in terminations.items():
            if done or truncated:
                self.pos.pop(a, None)
        self.agents = [a for a in self.agents if not (terminations[a] or truncated)]
        if self.t == 2 and not truncated:
            self.pos["walker_2"] = 0
            self.agents.append("walker_2")
            observations["walker_2"] = self._observe("walker_2")
            infos["walker_2"] = {}
        return observations, rewards, terminations, truncations, infos


register("test_corridor", f"{__name__}:Corridor", "RLlib plumbing test env")


def trained(result):
    """Module steps the learner has trained on, from an iteration's result (0 before any)."""
    return (
        result.get("learners", {})
        .get("__all_modules__", {})
        .get("num_module_steps_trained_lifetime", 0)
    )


def train_and_play(env_name, algo="PPO", sharing="all", env_kwargs=None, tmp_path=None, **hp):
    """Builds rllib_config, trains until the learner has updated (one iteration, or a few for
    the asynchronous APPO and IMPALA, whose learner may lag the sampling), saves every module
    and plays them."""
    config = rllib_config(env_name, algo, sharing, env_kwargs, **{**SMALL, **hp})
    trainer = config.build_algo()
    try:
        for _ in range(10):
            result = trainer.train()
            if trained(result) > 0:
                break
        assert result["env_runners"]["num_env_steps_sampled_lifetime"] > 0
        assert trained(result) > 0
        env = make(env_name, **(env_kwargs or {}))
        if config.is_multi_agent:
            mapping = config.policy_mapping_fn
            modules = {a: mapping(a, None) for a in env.possible_agents}
        else:
            modules = {a: "default_policy" for a in env.possible_agents}
        policies = {}
        for agent, mid in modules.items():
            path = save_policy(trainer.get_module(mid), tmp_path / mid)
            policies[agent] = load_policy(path)
    finally:
        trainer.stop()
    return play(env_name, policies, episodes=3, seed=0, env_kwargs=env_kwargs, record=True)


def test_openspiel_turn_based_ppo(tmp_path):
    results = train_and_play("openspiel:tic_tac_toe", tmp_path=tmp_path)
    assert results.returns.shape == (3, 2)
    assert np.all(results.returns.sum(axis=1) == 0)


def test_openspiel_simultaneous_per_agent(tmp_path):
    results = train_and_play(
        "openspiel:goofspiel(num_cards=3)", sharing="per_agent", tmp_path=tmp_path
    )
    reference = play("openspiel:goofspiel(num_cards=3)", [RandomPolicy(), RandomPolicy()], 3)
    np.testing.assert_array_equal(results.lengths, reference.lengths)  # fixed-length game


def test_one_player_gym_ppo(tmp_path):
    results = train_and_play("gym:CartPole-v1", tmp_path=tmp_path)
    np.testing.assert_array_equal(results.returns[:, 0], results.lengths)


def test_one_player_continuous_sac(tmp_path):
    results = train_and_play(
        "gym:Pendulum-v1",
        "SAC",
        tmp_path=tmp_path,
        train_batch_size=64,
        num_steps_sampled_before_learning_starts=64,
        minibatch_size=None,
        num_epochs=None,
        rollout_fragment_length=50,
        min_sample_timesteps_per_iteration=100,
    )
    assert results.lengths.tolist() == [200, 200, 200]


def test_dqn_with_masks(tmp_path):
    results = train_and_play(
        "openspiel:tic_tac_toe",
        "DQN",
        tmp_path=tmp_path,
        train_batch_size=32,
        num_steps_sampled_before_learning_starts=32,
        rollout_fragment_length=50,
        min_sample_timesteps_per_iteration=100,
        minibatch_size=None,
        num_epochs=None,
    )
    assert np.all(results.returns.sum(axis=1) == 0)


@pytest.mark.parametrize("algo", ["APPO", "IMPALA"])
def test_async_algorithms_with_masks(tmp_path, algo):
    results = train_and_play(
        "openspiel:kuhn_poker",
        algo,
        tmp_path=tmp_path,
        train_batch_size_per_learner=128,
        minibatch_size=None,  # must divide into rollout fragments of 50
        min_time_s_per_iteration=1,
    )
    assert np.all(results.returns.sum(axis=1) == 0) and np.all(np.abs(results.returns) >= 1)


def test_variable_agents_roles_and_cnn(tmp_path):
    results = train_and_play("test_corridor", sharing="per_role", tmp_path=tmp_path)
    assert results.returns.shape == (3, 4)
    spec = module_spec("test_corridor", agent="guard_0")
    assert spec.model_config["conv_filters"]  # the grid goes through a CNN
    assert spec.observation_space.shape == (6, 6, 2)  # channels-last for RLlib
    with pytest.raises(ValueError, match="different spaces"):
        rllib_config("test_corridor", sharing="all")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="learning_rate"):
        rllib_config("openspiel:tic_tac_toe", learning_rate=0.1)
    with pytest.raises(ValueError, match="algorithm"):
        rllib_config("openspiel:tic_tac_toe", algo="A3C")
    with pytest.raises(ValueError, match="sharing"):
        rllib_config("openspiel:tic_tac_toe", sharing="some")
    with pytest.raises(ValueError, match="SAC"):
        rllib_config("openspiel:tic_tac_toe", algo="SAC")
    with pytest.raises(ValueError, match="model config keys: fcnet_width"):
        module_spec("openspiel:tic_tac_toe", fcnet_width=3)
    assert register_env("openspiel:tic_tac_toe") == "metagame:openspiel:tic_tac_toe"


FAMILIES = [
    ("matrix", {"game": "biased_rps", "rounds": 3}, "all"),
    ("soccer", {"horizon": 20}, "all"),
    ("pursuit_evasion", {"graph": "cycle:5", "num_pursuers": 2, "horizon": 10}, "per_role"),
    ("tabular", None, "all"),
    ("mapf", {"map": "empty-8-8", "num_agents": 4, "max_steps": 16}, "all"),
    ("traffic", {"scenario": "intersection", "num_controlled": 2, "max_steps": 30}, "all"),
    ("preference", {}, "all"),
    ("trajectory_preference", {"max_steps": 20}, "all"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kwargs", "sharing"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_every_env_family_trains_and_plays_its_checkpoint(tmp_path, name, kwargs, sharing):
    if name == "tabular":  # a small random zero-sum Markov game given as arrays
        from metagame.envs.markov.tabular import random_game

        tab = random_game(4, (2, 2), 2, seed=0).tabular()
        kwargs = {"R": tab.R, "T": tab.T, "horizon": 10}
    results = train_and_play(name, sharing=sharing, env_kwargs=kwargs, tmp_path=tmp_path)
    env = make(name, **kwargs)
    assert results.returns.shape == (3, len(env.possible_agents))
    assert np.all(results.lengths > 0)
    assert all(r.length == n for r, n in zip(results.replays, results.lengths))
